"""What every tool tells a model: its whole description and its JSON schema, kept in a snapshot.

A change to a tool's docstring, arguments or declaration shows up here as a snapshot diff to review
(`pytest tests/test_tool_schemas.py --snapshot-update` accepts it).
"""

from __future__ import annotations

from agent.settings import Settings
from tools.catalog import store_tools
from tools.conversation import conversation_tools
from tools.knowledge import knowledge_tools
from tools.store.db import StoreDatabase


def test_every_tool_as_a_model_sees_it(tmp_path, snapshot):
    db = StoreDatabase(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")  # never queried: only the declarations
    tools = [*knowledge_tools(None), *store_tools(db, Settings()), *conversation_tools()]
    assert [t.spec for t in tools] == snapshot


def test_later_paragraphs_of_a_docstring_reach_the_model(tmp_path):
    db = StoreDatabase(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")
    tools = {t.name: t.spec for t in store_tools(db, Settings())}
    # "Possible once per order: collect every item first" is in the second paragraph.
    assert "collect every item first" in tools["return_delivered_order_items"].description
    assert "collect every item first" in tools["exchange_delivered_order_items"].description
