"""All SQL for chat history, as plain dicts in Chainlit 2.12's shapes, without importing Chainlit.

`agent.web.datalayer.SQLDataLayer` adapts this to Chainlit's BaseDataLayer; `history.StoreHistory` to the chat service. Every method runs
in one transaction, retried on transient errors; failures raise DataLayerError.
Writes are upserts, because Chainlit sends update_step for steps that do not
exist yet and update_thread before the thread exists, and may send both twice.

ChatStore is assembled from one part per kind of record: store_users, store_threads, store_steps,
store_elements, store_feedback, the conversation facts (facts, facts_rebuild) and live hand-overs (handovers), over store_base (engine,
transactions, storage calls) and store_rows (tables, column maps, rows as dicts).
"""

from __future__ import annotations

from agent.datalayer.audit import AuditStore
from agent.datalayer.facts import FactsStore
from agent.datalayer.facts_rebuild import FactsRebuild
from agent.datalayer.handovers import HandoverStore
from agent.datalayer.store_base import ThreadDeletedHook
from agent.datalayer.store_elements import ElementStore
from agent.datalayer.store_feedback import FeedbackStore
from agent.datalayer.store_steps import StepStore
from agent.datalayer.store_threads import ThreadStore
from agent.datalayer.store_users import UserStore

__all__ = ["ChatStore", "ThreadDeletedHook"]


class ChatStore(UserStore, ThreadStore, StepStore, ElementStore, FeedbackStore, AuditStore, FactsStore, FactsRebuild,
                HandoverStore):
    """Chat history in SQL: users, threads, steps, elements, feedback and each conversation's facts (see each
    part's module). It is the chat service's `FactsLog`."""
