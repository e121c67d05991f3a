"""A question about an attached file that was not read says so, and names it, rather than quoting another file.

Thirty notes attached at once, three read (the per-message limit): "the secret word in note 25" once got
note 0's word. Offline engine, real uploads library, real embeddings.
"""

from __future__ import annotations

import pytest

from agent.chat.intake import Upload, take_in
from agent.offline.engine import DialogueEngine
from agent.runner.conversation import Conversation
from agent.runner.events import TurnDone
from agent.runner.orchestrator import SupportAgent
from agent.settings import KnowledgeSettings, Settings, UploadSettings
from knowledge.factory import build_backend, build_uploads, knowledge_base
from tests.conftest import DOCS
from tools.registry import ToolRegistry

READ = 3
WORDS = ("amber", "birch", "cobalt", "dune", "ember", "fjord", "garnet", "heron", "indigo", "juniper", "kestrel",
         "lagoon", "marble", "nutmeg", "onyx", "pebble", "quartz", "russet", "saffron", "thistle", "umber", "velvet",
         "willow", "xylem", "yarrow", "zephyr", "acorn", "bramble", "cinder", "dahlia")


@pytest.fixture(scope="module")
def engine(embedder) -> DialogueEngine:
    return DialogueEngine.from_settings(embedder, Settings())


@pytest.fixture
async def noted(embedder, engine, tmp_path):
    """A conversation with 30 notes attached in one message, of which the first three were read."""
    settings = Settings(knowledge=KnowledgeSettings(store_dir=tmp_path / "store"),
                        uploads=UploadSettings(max_files=READ))
    backend = build_backend(settings.knowledge, embedder)
    kb = knowledge_base(settings.knowledge, backend.open(settings.knowledge.collection), embedder)
    kb.ingest([DOCS / "warranty.md"])
    uploads = build_uploads(settings.uploads, settings.knowledge, backend, embedder)
    agent = SupportAgent(engine, ToolRegistry([], settings.tools), kb, settings, uploads=uploads)
    conversation = Conversation("conv-notes", user_id="u1")
    files = [Upload(f"note_{i}.txt", data=f"Note {i}\n\nThe secret word in note {i} is {word}.\n".encode())
             for i, word in enumerate(WORDS)]
    notice = await take_in(uploads, conversation, files)
    assert conversation.uploads == [f"note_{i}.txt" for i in range(READ)], notice
    return agent, conversation


async def ask(agent, conversation, question: str) -> str:
    events = [e async for e in agent.run_turn(conversation, question)]
    done = events[-1]
    assert isinstance(done, TurnDone) and done.status == "completed"
    return done.reply


async def test_a_named_file_that_was_not_read_is_named_not_answered_from_another(noted):
    agent, conversation = noted
    reply = await ask(agent, conversation, "what is the secret word in note 25?")
    assert "note_25.txt" in reply and "haven't read" in reply, reply
    assert not any(word in reply for word in WORDS), "no other note's word stands in for note 25's"


async def test_a_named_file_that_was_read_is_answered_from_that_file(noted):
    agent, conversation = noted
    reply = await ask(agent, conversation, "what is the secret word in note 2?")
    assert WORDS[2] in reply and "haven't read" not in reply, reply
    assert WORDS[0] not in reply and WORDS[1] not in reply, reply
