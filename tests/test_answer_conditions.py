"""Help-centre answers keep the sentence that decides the question, with its conditions and exceptions.

`knowledge/eval/conditions.jsonl` holds policy questions whose answer turns on a condition ("overnight
ships only within the United States", "under $30 you keep it"), each with the sentence that must be
quoted. The whole set (dev and test) goes through the real retrieval and the real extractive answerer.
"""

from __future__ import annotations

import pytest

from agent.eval.conditions import amisses, load_conditions, normal
from agent.offline.answerer import ExtractiveAnswerer
from agent.settings import Settings
from knowledge.types import Passage
from tests.conftest import DOCS, ROOT

SET = ROOT / "knowledge/eval/conditions.jsonl"
# A second dev set, written later by someone who saw only the help centre, for tuning without the held-out rows.
DEV2 = ROOT / "knowledge/eval/conditions_dev2.jsonl"
# A third, written after the glossary's last round from the help centre alone; 66 of 100 before it, 68 after,
# 74 once the best-matching section brought its sentences, 81 once finishing sentences and glossary terms came,
# 83 once passages stating the glossary's terms were found and counted as answering.
DEV3 = ROOT / "knowledge/eval/conditions_dev3.jsonl"
# A fourth, written from the help centre alone by a helper that never opened the other sets: 57 of 70 on the
# answerer as it was, 59 once passages stating the glossary's terms counted.
DEV4 = ROOT / "knowledge/eval/conditions_dev4.jsonl"
MIN_ROWS = 60
# Issue #12's bar: 90% of the set (dev and held-out) carry their deciding sentence. 92.0% today (126 of 137: dev 63
# of 64, held-out 63 of 73; 79% before the glossary and the ranking by a passage's best sentence, 82% before
# sentences were also read with their article's title and heading, 84% before the best sentence brought its
# neighbours, 86% before the glossary learnt customers' words for stock, carriers, countries, duties and support
# hours, 88% before the section that matches the question best brought its sentences that name the question's
# words, 89.8% before passages stating the glossary's term for the customer's words were found and counted as
# answering). The dev sets' bars are two rows under today's counts, so the suite guards what was gained without
# failing on one row that retrieval's near-ties may flip.
MIN_PASS_RATE = {SET.name: 0.90, DEV2.name: 0.94, DEV3.name: 0.81, DEV4.name: 0.81}


def _rows() -> list[dict]:
    return load_conditions(SET)


def test_the_set_is_well_formed():
    rows = _rows()
    assert len(rows) >= MIN_ROWS
    assert len({r["question"] for r in rows}) == len(rows), "no question twice"
    assert {r["split"] for r in rows} == {"dev", "test"}
    dev = sum(r["split"] == "dev" for r in rows)
    assert 0.3 <= dev / len(rows) <= 0.5, "at most half is dev, the rest held out"
    for row in rows:
        document = DOCS / row["document"]
        assert document.is_file(), row
        assert normal(row["must_contain"]) in normal(document.read_text()), row


@pytest.fixture(scope="module")
def answerer(shipped_kb) -> ExtractiveAnswerer:
    settings = Settings()
    return ExtractiveAnswerer(shipped_kb.embedder, settings.offline, settings.app, shipped_kb.glossary)


@pytest.mark.parametrize("path", [DEV2, DEV3, DEV4], ids=lambda p: p.name)
def test_the_later_dev_sets_are_well_formed(path):
    rows = load_conditions(path)
    assert len(rows) >= MIN_ROWS and {r["split"] for r in rows} == {"dev"}
    others = [load_conditions(p) for p in (SET, DEV2, DEV3, DEV4) if p != path]
    both = {r["question"] for r in rows} & {r["question"] for other in others for r in other}
    assert not both, f"questions in both sets: {sorted(both)}"  # only these: never print the held-out rows
    for row in rows:
        assert normal(row["must_contain"]) in normal((DOCS / row["document"]).read_text()), row


@pytest.mark.parametrize("path", [SET, DEV2, DEV3, DEV4], ids=lambda p: p.name)
async def test_answers_contain_the_deciding_sentence(shipped_kb, path):
    rows = load_conditions(path)
    misses = await amisses(shipped_kb, Settings(), rows)
    rate = (len(rows) - len(misses)) / len(rows)  # 74 / 100 == 0.74 exactly; 1 - 26 / 100 is just under it
    bar = MIN_PASS_RATE[path.name]
    print(f"{len(rows) - len(misses)} of {len(rows)} answers contain their deciding sentence ({rate:.0%})")
    print("\n".join(misses))
    assert rate >= bar, f"{rate:.0%} < {bar:.0%}; misses:\n" + "\n".join(misses)


def _passage(section: str, text: str) -> Passage:
    return Passage(id=section, text=text, source="help.md", title="Help", section=section, score=0.6)


# Each case: the question, its passages, the sentence that decides it. Without the kind of answer the
# question asks for (a figure for "what's the window"), or the catch-all rule for a name the help centre
# never mentions, the neighbouring sentence is quoted instead. (Preferring a rule for "can you...?" shows
# on the whole set above, where the deciding sentence competes with a dozen passages.)
KIND_CASES = [
    ("What's your return window",
     [_passage("Return Window and Eligibility", "You can return most items within 30 days of delivery. Only orders "
               "with the status delivered can be returned. If your order has not arrived yet, you cannot start a "
               "return; if it is still pending, you can cancel it instead."),
      _passage("How to Start a Return", "You can start a return by chatting with our assistant or by contacting "
               "our support team. Once the return is confirmed, your order status changes to return requested.")],
     "within 30 days of delivery"),
    ("Do you deliver to Mexico?",
     [_passage("Where We Ship", "We also deliver to Canada, the United Kingdom, EU countries and Australia. "
               "International orders use our international shipping service only. We are not able to ship to other "
               "countries at this time.")],
     "We are not able to ship to other countries"),
]


@pytest.mark.parametrize("question, passages, deciding", KIND_CASES, ids=["figure", "catch-all"])
def test_the_answer_is_of_the_kind_the_question_asks_for(answerer, question, passages, deciding):
    assert deciding in (answerer.answer(question, passages) or "")


async def test_a_terse_question_is_answered_by_the_rule_that_decides_it(shipped_kb, answerer):
    # No "can I": still a question whether. Issue #12's example; the price of overnight was quoted instead.
    question = "overnight shipping to Canada?"
    reply = answerer.answer(question, shipped_kb.relevant(await shipped_kb.asearch(question))) or ""
    assert "Overnight shipping are only offered for addresses in the United States" in reply, reply


def test_a_day_the_customer_names_is_not_an_unknown_name(answerer):
    passages = [_passage("When a Refund Is Issued", "Returns: the refund is issued after our warehouse receives and "
                         "inspects your return, which is usually within 3 business days of the package arriving.")]
    reply = answerer.answer("My return reached your warehouse on Monday. When do you issue the refund?", passages)
    assert reply and "within 3 business days" in reply
    assert "Monday" not in reply, "a date is not a name the help centre should know"


async def test_the_section_that_matches_the_question_brings_its_condition(shipped_kb, answerer):
    # The sentences closest to the question state the rule (a price adjustment within 14 days of delivery); the
    # section that matches it best ("Price Adjustments") goes on to the exception the customer asks about.
    question = ("You already refunded me $10 when my headphones dropped in price last week, and now they've "
                "dropped another $15. Can I get that too?")
    reply = answerer.answer(question, shipped_kb.relevant(await shipped_kb.asearch(question))) or ""
    assert "we cannot make a second adjustment" in reply, reply


def test_a_sentence_that_points_back_comes_with_the_one_it_finishes(answerer):
    # "This time is needed ..." names nothing the question asks about, yet it is the answer to "can you hurry?".
    passages = [_passage("Refund Timing", "Refunds to a gift card appear immediately. Refunds to cards and PayPal "
                         "take 5–7 business days to appear. This time is needed by your bank or PayPal to process "
                         "the credit, and we cannot speed it up. Gift cards never expire.")]
    reply = answerer.answer("How long do card refunds take to appear?", passages) or ""
    assert "5–7 business days" in reply and "we cannot speed it up" in reply, reply


def test_the_help_centre_term_for_the_customer_s_words_is_quoted(answerer):
    # "wore" is the glossary's "unused and in its original condition": the condition that decides the exchange,
    # though the sentences closer to the question describe exchanges in general.
    passages = [
        _passage("What You Can Exchange", "You can exchange an item for a different variant of the same product, "
                 "such as a different size, color or capacity. For example, you can exchange a medium jacket for a "
                 "large one. The new variant must be the same product type as the original."),
        _passage("How to Exchange", "Exchanges are free of charge. We send you a prepaid label by email. The item "
                 "you send back must be unused and in its original condition, unless it is defective."),
    ]
    reply = answerer.answer("I wore the jacket on one hike. Can I still exchange it for a large?", passages) or ""
    assert "must be unused and in its original condition" in reply, reply


def test_a_brand_the_help_centre_never_names_gets_the_different_brand_rule(answerer):
    passages = [_passage("What You Can Exchange", "You can exchange an item for a different variant of the same "
                         "product, such as a different size or color. For example, you can exchange black earbuds "
                         "for the white version of the same model. Exchanges ship within 2 business days. If you "
                         "want a different model, brand or type of item, return the original item for a refund and "
                         "place a new order for the item you want.")]
    reply = answerer.answer("can I exchange my earbuds for a Sony pair instead", passages) or ""
    assert "If you want a different model, brand or type of item" in reply, reply


def test_a_name_the_glossary_knows_is_not_called_unknown(answerer):
    passages = [_passage("Refund Timing", "Refunds to cards and PayPal take 5–7 business days to appear after "
                         "they are issued.")]
    reply = answerer.answer("How long until my Amex refund shows up?", passages) or ""
    assert "5–7 business days" in reply and "Amex" not in reply, reply  # "Amex" is American Express
    reply = answerer.answer("How long until my Zork refund shows up?", passages) or ""
    assert reply.startswith("I don't know about Zork specifically"), reply


def test_capitalised_words_in_a_row_are_one_name(answerer):
    passages = [_passage("Duties and Import Taxes", "Duties and import taxes on international orders are paid to the "
                         "carrier at delivery, not to Larkspur Goods, so they are not part of a Larkspur refund.")]
    reply = answerer.answer("I paid $40 in fees to Canada Post. Do I get them back if I return everything?",
                            passages) or ""
    assert "not part of a Larkspur refund" in reply and "don't know about" not in reply, reply  # Canada: the glossary's
    reply = answerer.answer("Are the import taxes I paid to Zork Express at delivery part of my refund?", passages)
    assert (reply or "").startswith("I don't know about Zork Express specifically"), reply


async def test_a_passage_stating_the_term_for_the_customer_s_words_answers(shipped_kb, answerer):
    # "Venmo" is the glossary's "other payment services"; the sentence that states it is worded nothing like
    # the question, and scored under the relevance bar: the customer was told "I don't know".
    question = "do you take zelle or venmo at checkout"
    reply = answerer.answer(question, shipped_kb.relevant(await shipped_kb.asearch(question))) or ""
    assert "We do not accept cash, checks, bank transfers or other payment services" in reply, reply


async def test_the_passage_stating_the_term_is_retrieved_when_none_found_does(shipped_kb, answerer):
    # "wore" is "unused and in its original condition": no passage retrieved for an exchange question states it.
    question = "been wearing the trainers around the flat for a few days and they rub my heel, could I exchange them for a bigger size?"
    reply = answerer.answer(question, shipped_kb.relevant(await shipped_kb.asearch(question))) or ""
    assert "must be unused and in its original condition" in reply, reply



async def test_the_first_passage_brings_its_best_sentences_not_its_first(shipped_kb, answerer):
    # "Changing Items" names the question's words in sentence after sentence; the one that answers "which first?"
    # comes seventh, after the five its first sentences filled.
    question = ("Need to change the size of two items on my pending order and update the address too. Does it matter "
                "which one I do first?")
    reply = answerer.answer(question, shipped_kb.relevant(await shipped_kb.asearch(question))) or ""
    assert "we recommend doing that before you modify items" in reply, reply
