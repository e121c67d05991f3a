"""Command line for evaluating the offline dialogue engine.

    python -m agent.eval routing FILE.jsonl [--json OUT.json]
    python -m agent.eval calibrate FILE.jsonl
    python -m agent.eval dialogues FILE.jsonl [--json OUT.json] [--verbose]
    python -m agent.eval conditions FILE.jsonl [--split dev] [--verbose]
    python -m agent.eval train

Each command is one `add_*` function registering its parser and its `run`; add a new one to COMMANDS.
The parser is a `knowledge.cli.CommandLine`, like every CLI of the project: an option all commands
share goes into its list and is then accepted before and after the command's name (none yet; the
settings come from the environment).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from agent.settings import Settings
from knowledge.cli import CommandLine

SubParsers = CommandLine  # what each `add_*` registers its command with
# The grid `calibrate` sweeps: the store intent's probability, and the similarity floor of "understood".
THRESHOLDS = [round(0.30 + 0.05 * i, 2) for i in range(11)]
SIMILARITIES = [round(0.25 + 0.05 * i, 2) for i in range(6)]


def build_router(settings: Settings):
    from agent.offline.router import IntentRouter
    from knowledge.embedder import Embedder

    embedder = Embedder(settings.knowledge.embedding_model_path, settings.knowledge.embedding_batch_size)
    return IntentRouter.from_settings(embedder, settings.offline)


def add_routing(commands: SubParsers) -> None:
    parser = commands.add_parser("routing", help="accuracy, per-intent scores and false activation of the router")
    parser.add_argument("file", type=Path, help='JSONL of {"text": ..., "intent": ...}; out_of_scope is an intent')
    parser.add_argument("--json", type=Path, help="where to write the report (default: FILE.report.json)")
    parser.set_defaults(run=run_routing)


def run_routing(args: argparse.Namespace, settings: Settings) -> int:
    from agent.eval.routing import evaluate_routing, format_report, load_rows

    report = evaluate_routing(build_router(settings), load_rows(args.file))
    print(format_report(report))
    out = args.json or args.file.with_suffix(".report.json")
    out.write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nreport written to {out}")
    return 0


def add_calibrate(commands: SubParsers) -> None:
    parser = commands.add_parser(
        "calibrate", help="sweep OFFLINE_INTENT_THRESHOLD and OFFLINE_INTENT_MIN_SIMILARITY (run it on dev data only)"
    )
    parser.add_argument("file", type=Path, help='JSONL of {"text": ..., "intent": ...}')
    parser.set_defaults(run=run_calibrate)


def run_calibrate(args: argparse.Namespace, settings: Settings) -> int:
    from agent.eval.routing import calibrate, load_rows

    results = calibrate(build_router(settings), load_rows(args.file), THRESHOLDS, SIMILARITIES)
    print(f"{'threshold':>9}{'min sim.':>9}{'accuracy':>10}{'false act.':>12}")
    for threshold, similarity, accuracy, false_activation in results:
        print(f"{threshold:>9.2f}{similarity:>9.2f}{accuracy:>10.1%}{false_activation:>12.1%}")
    return 0


def add_dialogues(commands: SubParsers) -> None:
    parser = commands.add_parser(
        "dialogues", help="scripted conversations through the real agent and tools, judged on the store they leave"
    )
    parser.add_argument("file", type=Path, help="JSONL of scripted conversations (see agent/eval/dialogues.py)")
    parser.add_argument("--json", type=Path, help="where to write the report (default: none)")
    parser.add_argument("--verbose", "-v", action="store_true", help="print every transcript, not only failures")
    parser.set_defaults(run=run_dialogues)


def run_dialogues(args: argparse.Namespace, settings: Settings) -> int:
    """Exit status 1 when any dialogue fails."""
    import tempfile

    from agent.offline.engine import DialogueEngine
    from agent.eval.dialogues import format_outcomes, report, run_dialogues as play
    from knowledge.factory import build_knowledge
    from agent.logs import configure_logging

    configure_logging("WARNING")  # the transcripts are the output, not each tool call's log line
    knowledge = build_knowledge(settings.knowledge)
    knowledge.ingest([settings.knowledge.docs_dir])  # the shipped help centre; unchanged files are skipped
    engine = DialogueEngine.from_settings(knowledge.embedder, settings)
    with tempfile.TemporaryDirectory(prefix="dialogues-") as workdir:
        outcomes = play(args.file, engine, knowledge, settings, Path(workdir))
    print(format_outcomes(outcomes, args.verbose))
    if args.json:
        args.json.write_text(json.dumps(report(outcomes), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"report written to {args.json}")
    return 0 if all(outcome.passed for outcome in outcomes) else 1


def add_conditions(commands: SubParsers) -> None:
    parser = commands.add_parser(
        "conditions", help="share of help-centre answers that quote the sentence deciding the question"
    )
    parser.add_argument("file", type=Path, help='JSONL of {"question", "must_contain", "document", "split"}')
    parser.add_argument("--split", help="only the rows of this split (tune on dev, never on test)")
    parser.add_argument("--verbose", "-v", action="store_true", help="print each miss with its reply")
    parser.set_defaults(run=run_conditions)


def run_conditions(args: argparse.Namespace, settings: Settings) -> int:
    """Answers through the real retrieval and the extractive answerer, as the offline engine gives them."""
    from agent.eval.conditions import evaluate_conditions, load_conditions
    from agent.logs import configure_logging
    from knowledge.factory import build_knowledge

    configure_logging("WARNING")
    knowledge = build_knowledge(settings.knowledge)
    knowledge.ingest([settings.knowledge.docs_dir])
    knowledge.warm()
    rows = [r for r in load_conditions(args.file) if args.split is None or r["split"] == args.split]
    misses = evaluate_conditions(knowledge, settings, rows)
    print(f"{len(rows) - len(misses)} of {len(rows)} answers contain their deciding sentence "
          f"({1 - len(misses) / max(len(rows), 1):.1%})")
    if args.verbose:
        print("\n".join(misses))
    return 0


def add_train(commands: SubParsers) -> None:
    parser = commands.add_parser(
        "train", help="train the router now and keep it in OFFLINE_ROUTER_CACHE_DIR (an image's build step)"
    )
    parser.set_defaults(run=run_train)


def run_train(args: argparse.Namespace, settings: Settings) -> int:
    """Exit status 1 when no cache folder is set: the training would be thrown away."""
    folder = settings.offline.router_cache_dir
    if folder is None:
        print("OFFLINE_ROUTER_CACHE_DIR is empty: nothing to keep the trained router in", file=sys.stderr)
        return 1
    build_router(settings)
    print(f"router trained and kept in {folder}")
    return 0


COMMANDS: list[Callable[[SubParsers], None]] = [add_routing, add_calibrate, add_dialogues, add_conditions, add_train]


def main(argv: list[str] | None = None) -> int:
    cli = CommandLine("python -m agent.eval", __doc__.split("\n\n")[0])
    for add in COMMANDS:
        add(cli)
    args = cli.parse_args(argv)
    return args.run(args, Settings())


if __name__ == "__main__":
    sys.exit(main())
