"""`python -m knowledge ingest` and `python -m knowledge search "question"`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from agent.factory import build_knowledge
from agent.logs import configure_logging
from agent.settings import get_settings


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m knowledge")
    commands = parser.add_subparsers(dest="command", required=True)
    ingest = commands.add_parser("ingest", help="sync the vector store with a folder of documents")
    ingest.add_argument("path", nargs="?", type=Path, default=settings.knowledge.docs_dir)
    search = commands.add_parser("search", help="show the passages a question retrieves")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=settings.knowledge.top_k)
    search.add_argument("--json", action="store_true", help="print JSON lines")
    calibrate = commands.add_parser("calibrate", help="sweep KNOWLEDGE_MIN_SCORE over labelled questions")
    calibrate.add_argument("questions", type=Path, help='JSONL of {"question": ..., "answerable": true|false}')
    args = parser.parse_args(argv)
    configure_logging("WARNING")

    kb = build_knowledge(settings)
    if args.command == "ingest":
        if not args.path.is_dir():
            parser.error(f"not a folder: {args.path}")
        report = kb.sync(args.path)
        print(
            f"{len(report.added)} added, {len(report.updated)} updated, {len(report.removed)} removed, "
            f"{report.unchanged} unchanged; {report.chunks} chunks written; {kb.store.count()} chunks in the store"
        )
        return 0 if kb.store.count() else 1
    if args.command == "calibrate":
        return _calibrate(kb, args.questions)
    for passage in kb.search(args.query, args.k):
        relevant = passage.score >= kb.min_score
        if args.json:
            print(json.dumps({"score": round(passage.score, 4), "relevant": relevant, "citation": passage.citation,
                              "source": passage.source, "text": passage.text}))
        else:
            print(f"{passage.score:.3f} {'*' if relevant else ' '} {passage.citation}  ({passage.source})")
    return 0


def _calibrate(kb, path: Path) -> int:
    """Top-1 score of answerable vs unanswerable questions, for choosing the relevance threshold."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    scored = [(row["answerable"], kb.search(row["question"], 1)[0].score) for row in rows]
    good = [s for ok, s in scored if ok]
    bad = [s for ok, s in scored if not ok]
    print(f"{len(good)} answerable, {len(bad)} unanswerable questions; current threshold {kb.min_score:.2f}")
    print("threshold  answerable kept  unanswerable let through")
    for step in range(20, 61, 2):
        t = step / 100
        kept = sum(s >= t for s in good) / len(good)
        leaked = sum(s >= t for s in bad) / len(bad)
        print(f"{t:9.2f}  {kept:15.0%}  {leaked:24.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
