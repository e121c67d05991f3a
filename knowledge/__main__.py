"""Command line for the knowledge base.

    python -m knowledge ingest [PATH ...] [--rebuild]
    python -m knowledge search "question" [-k N] [--json] [--documents]
    python -m knowledge eval QUESTIONS.jsonl [-k N] [--report OUT.json] [--documents]
    python -m knowledge calibrate LABELLED.jsonl

Every command takes --store DIR (or KNOWLEDGE_STORE_DIR) to work on an index of its own, and
--collection NAME (or KNOWLEDGE_COLLECTION), before or after the command's name:

    python -m knowledge --store /tmp/kb ingest docs/
    python -m knowledge ingest docs/ --store /tmp/kb --collection team-a
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from knowledge.base import KnowledgeBase
from knowledge.cli import CommandLine, option
from knowledge.evaluation import evaluate
from knowledge.factory import build_knowledge
from knowledge.settings import KnowledgeSettings

console = Console()


def main(argv: list[str] | None = None) -> int:
    settings = KnowledgeSettings()
    cli = CommandLine("python -m knowledge", __doc__.split("\n\n")[0], [
        option("--store", type=Path, help="Chroma folder to use (default: KNOWLEDGE_STORE_DIR)"),
        option("--collection", help="collection name (default: KNOWLEDGE_COLLECTION)"),
    ])  # fmt: skip

    ingest = cli.add_parser("ingest", help="add, update and remove documents, incrementally")
    ingest.add_argument("paths", nargs="*", type=Path, help=f"files or folders (default: {settings.docs_dir})")
    ingest.add_argument("--rebuild", action="store_true", help="drop everything in the collection first")

    search = cli.add_parser("search", help="show the passages a question retrieves")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=settings.top_k)
    search.add_argument("--json", action="store_true", help="print one JSON object per passage")
    search.add_argument("--documents", action="store_true",
                        help="k distinct documents in rank order, each with its best passage's score")

    evaluation = cli.add_parser("eval", help="recall@k, MRR and nDCG@10 on labelled questions")
    evaluation.add_argument("questions", type=Path, help='JSONL of {"question": ..., "relevant": [file names]}')
    evaluation.add_argument("-k", type=int, default=5, help="k for recall@k")
    evaluation.add_argument("--report", type=Path, default=Path("eval-report.json"), help="where to write JSON")
    evaluation.add_argument("--documents", action="store_true",
                            help="rank k distinct documents; default: documents of the top max(k, 10) passages")

    calibrate = cli.add_parser("calibrate", help="sweep KNOWLEDGE_MIN_SCORE over labelled questions")
    calibrate.add_argument("questions", type=Path, help='JSONL of {"question": ..., "answerable": true|false}')

    args = cli.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.store:
        settings.store_dir = args.store
    if args.collection:
        settings.collection = args.collection
    kb = build_knowledge(settings)

    if args.command == "ingest":
        return _ingest(kb, args.paths or [settings.docs_dir], args.rebuild)
    if args.command == "search":
        if args.documents:
            return _search_documents(kb, args.query, args.k, args.json)
        return _search(kb, args.query, args.k, args.json)
    if args.command == "eval":
        return _eval(kb, args.questions, args.k, args.report, args.documents)
    return _calibrate(kb, args.questions)


def _ingest(kb: KnowledgeBase, paths: list[Path], rebuild: bool) -> int:
    missing = [p for p in paths if not p.exists()]
    if missing:
        console.print(f"[red]not found:[/red] {', '.join(map(str, missing))}")
        return 2
    total = sum(1 for p in paths for f in (p.rglob("*") if p.is_dir() else [p]) if f.is_file())
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("ingesting", total=total)
        report = kb.ingest(paths, rebuild=rebuild, progress=lambda name: progress.update(task, advance=1, description=name))
    table = Table(title=f"Ingested in {report.seconds:.1f} s")
    for column in ("file", "status", "chunks", "reason"):
        table.add_column(column)
    for r in report.results:
        style = {"skipped": "red", "removed": "yellow", "unchanged": "dim"}.get(r.status, "")
        table.add_row(r.source, f"[{style}]{r.status}[/{style}]" if style else r.status, str(r.chunks or ""), r.reason)
    console.print(table)
    counts = {s: len(report.of(s)) for s in ("added", "updated", "unchanged", "removed", "skipped")}
    console.print(", ".join(f"{n} {s}" for s, n in counts.items()) +
                  f"; {report.chunks_written} chunks written; {kb.store.count()} chunks in the store")
    return 0 if report.ok else 1


def _search(kb: KnowledgeBase, query: str, k: int, as_json: bool) -> int:
    for rank, passage in enumerate(kb.search(query, k), 1):
        relevant = passage.score >= kb.min_score
        if as_json:
            print(json.dumps({"rank": rank, "score": round(passage.score, 4), "relevant": relevant,
                              "citation": passage.citation, "source": passage.source, "page": passage.page,
                              "text": passage.text}, ensure_ascii=False))
        else:
            mark = "*" if relevant else " "
            console.print(f"{rank}. {passage.score:.3f} {mark} [bold]{passage.citation}[/bold] ({passage.source})")
            console.print(f"   {passage.text[:200]}", highlight=False)
    if not as_json:
        console.print(f"* = above the relevance threshold {kb.min_score:.2f}")
    return 0


def _search_documents(kb: KnowledgeBase, query: str, k: int, as_json: bool) -> int:
    for rank, passage in enumerate(kb.documents(query, k), 1):
        relevant = passage.score >= kb.min_score
        if as_json:
            print(json.dumps({"rank": rank, "source": passage.source, "score": round(passage.score, 4),
                              "relevant": relevant, "citation": passage.citation}, ensure_ascii=False))
        else:
            mark = "*" if relevant else " "
            console.print(f"{rank}. {passage.score:.3f} {mark} [bold]{passage.source}[/bold]  best: {passage.citation}",
                          highlight=False)
    if not as_json:
        console.print(f"* = best passage above the relevance threshold {kb.min_score:.2f}")
    return 0


def _eval(kb: KnowledgeBase, path: Path, k: int, report_path: Path, documents: bool) -> int:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    result = evaluate(kb, rows, k, documents=documents)
    report_path.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    summary = result["summary"]
    # Every metric counts distinct documents; the ranking says whether they came from passages or documents.
    console.print(f"{summary['questions']} questions: recall@{k} {summary[f'recall@{k}']:.3f}, "
                  f"MRR {summary['mrr']:.3f}, nDCG@10 {summary['ndcg@10']:.3f} over distinct documents "
                  f"(ranked by {summary['ranking']}); report: {report_path}")
    for miss in result["misses"]:
        console.print(f"  [yellow]miss[/yellow] {miss['question']!r} → {miss['retrieved'][:3]}", highlight=False)
    return 0


def _calibrate(kb: KnowledgeBase, path: Path) -> int:
    """Best passage score of answerable vs unanswerable questions, for choosing the relevance threshold."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    scored = [(row["answerable"], max((p.score for p in kb.search(row["question"])), default=-1.0)) for row in rows]
    good = [score for ok, score in scored if ok]
    bad = [score for ok, score in scored if not ok]
    table = Table(title=f"{len(good)} answerable, {len(bad)} unanswerable; current threshold {kb.min_score:.2f}")
    for column in ("threshold", "answerable kept", "unanswerable let through"):
        table.add_column(column, justify="right")
    for step in range(20, 61, 2):
        t = step / 100
        table.add_row(f"{t:.2f}", f"{sum(s >= t for s in good) / len(good):.0%}", f"{sum(s >= t for s in bad) / len(bad):.0%}")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
