"""Rebuild conversation facts from the stored history, for conversations older than the facts record.

    python -m agent.facts rebuild [--since 2026-01-01] [--all] [--database-url URL] [--schema NAME]

Without --all only conversations that have no facts yet are rebuilt, so it is safe to run again (and once after
upgrading). --all rebuilds every conversation from its history; what only the live record knows (time to first
response, cards) is kept. Customer messages are tagged with the offline intent router; tickets are read from the
shop's store (STORE_DATABASE_URL, or the chat history's database). What the history cannot tell is listed in
agent/datalayer/facts_rebuild.py. Every command takes --database-url / --schema before or after its name.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime

from sqlalchemy import select

from agent.chat.tagging import RouterTagger
from agent.datalayer.facts_rebuild import StoredTicket, TicketLookup
from agent.datalayer.migrate import migrate
from agent.datalayer.storage import LocalStorage
from agent.datalayer.store import ChatStore
from agent.errors import AgentError
from agent.offline.router import IntentRouter
from agent.settings import Settings
from knowledge.cli import CommandLine, option
from knowledge.factory import build_embedder
from tools.store.db import StoreDatabase
from tools.store.migrate import migrate_store
from tools.store.models import Ticket


def latest_tickets(db: StoreDatabase) -> TicketLookup:
    """A conversation's latest hand-over ticket in the shop's store."""

    async def lookup(conversation_id: str) -> StoredTicket | None:
        async with db.read() as session:
            ticket = (await session.scalars(
                select(Ticket).where(Ticket.conversation_id == conversation_id)
                .order_by(Ticket.created_at.desc()).limit(1)
            )).first()  # fmt: skip
            return StoredTicket(ticket.id, ticket.status, ticket.created_at) if ticket else None  # before rollback

    return lookup


def _parser(settings: Settings) -> CommandLine:
    db = settings.database
    cli = CommandLine("python -m agent.facts", "Conversation facts for the support workspace.", [
        option("--database-url", default=db.url, help="the chat history; default: DATABASE_URL"),
        option("--schema", default=db.schema_name, help="PostgreSQL schema; default: DATABASE_SCHEMA_NAME"),
    ])  # fmt: skip
    rebuild = cli.add_parser("rebuild", help="rebuild facts from the stored history")
    rebuild.add_argument("--since", type=datetime.fromisoformat, help="only conversations started on or after "
                         "this date or time (UTC), e.g. 2026-01-01")
    rebuild.add_argument("--all", action="store_true", dest="everything",
                         help="every conversation, not only those without facts")
    return cli


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    await migrate(args.database_url, args.schema)  # the facts tables may not exist yet on an old database
    await migrate_store(*settings.store_database)  # nor the tickets table on a store the app never started on
    # Files are never touched: a local root that is not written to is enough, whatever the app stores them in.
    store = ChatStore(args.database_url, LocalStorage(settings.database.storage_dir), schema=args.schema,
                      write_retries=settings.database.write_retries)
    shop = StoreDatabase.from_settings(settings)
    try:
        router = await asyncio.to_thread(IntentRouter.from_settings, build_embedder(settings.knowledge),
                                         settings.offline)
        tagger = RouterTagger(router.route)
        return await store.rebuild_facts(tagger, latest_tickets(shop), since=args.since, everything=args.everything)
    finally:
        await store.close()
        await shop.dispose()


def main(argv: list[str] | None = None) -> int:
    settings = Settings()
    args = _parser(settings).parse_args(argv)
    try:
        written = asyncio.run(_run(args, settings))
    except AgentError as exc:  # DataLayerError, configuration mistakes
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"rebuilt the facts of {written} conversation{'s' if written != 1 else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
