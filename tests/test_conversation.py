"""Citation numbering as the customer sees it."""

from __future__ import annotations

from agent.runner.conversation import Conversation, SourceBook
from agent.models.messages import Message
from knowledge.types import Passage


def passage(n: int) -> Passage:
    return Passage(id=f"p{n}", text=f"text {n}", source=f"doc{n}.md", title=f"Doc {n}")


def test_citations_are_renumbered_in_order_of_first_use_even_when_split_across_chunks():
    book = SourceBook()
    assert book.add([passage(1), passage(2), passage(3)]) == [1, 2, 3]
    assert book.add([passage(2), passage(4)]) == [2, 4], "a passage seen twice keeps its number"

    chunks = ["Refunds take 5 days [", "3]. Returns: 30 days [", "2", "]", " and [3] again, see [9] or [", "1]"]
    shown = "".join(book.display(c) for c in chunks) + book.flush()

    assert shown == "Refunds take 5 days [1]. Returns: 30 days [2] and [1] again, see [9] or [3]"
    assert [(n, p.id) for n, p in book.cited()] == [(1, "p3"), (2, "p2"), (3, "p1")]


def test_text_with_brackets_that_are_not_citations_passes_through():
    book = SourceBook()
    book.add([passage(1)])
    text = "Use code [SAVE10] or [ ] brackets ["
    assert book.display(text) + book.flush() == text
    assert book.cited() == []


def test_window_keeps_the_latest_messages():
    conversation = Conversation("c")
    for i in range(5):
        conversation.add(Message.user(str(i)))
    assert [m.content for m in conversation.window(2)] == ["3", "4"]
