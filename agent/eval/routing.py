"""How well the intent router routes labelled utterances, and how often it starts a flow it shouldn't.

The number that matters most is the false activation rate: the share of out-of-scope messages
routed into a store flow. Telling a customer "I can't help with that" is cheap; walking them into
a cancellation because they asked about their gym membership is not.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from agent.offline.intents import OUT_OF_SCOPE, STORE_FLOWS
from agent.offline.router import IntentRouter

_CONFUSIONS_SHOWN = 15  # the commonest mistakes are the ones worth reading in a terminal


@dataclass(frozen=True)
class Row:
    text: str
    intent: str


@dataclass(frozen=True)
class IntentStats:
    precision: float
    recall: float
    support: int


@dataclass
class RoutingReport:
    total: int
    accuracy: float
    false_activation_rate: float
    out_of_scope_total: int
    per_intent: dict[str, IntentStats]
    confusions: list[tuple[str, str, int]]  # (expected, routed to, count), commonest first
    errors: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def load_rows(path: Path) -> list[Row]:
    rows = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        record = json.loads(line)
        if not isinstance(record.get("text"), str) or not isinstance(record.get("intent"), str):
            raise ValueError(f"{path}:{number}: each line needs a text and an intent")
        rows.append(Row(record["text"], record["intent"]))
    return rows


def evaluate_routing(router: IntentRouter, rows: list[Row]) -> RoutingReport:
    routings = router.route_many([row.text for row in rows])
    predicted = [routing.intent for routing in routings]
    expected = [row.intent for row in rows]
    pairs = Counter(zip(expected, predicted, strict=True))
    labels = sorted(set(expected) | set(predicted))
    per_intent = {}
    for label in labels:
        hits = pairs[(label, label)]
        routed = sum(count for (_, got), count in pairs.items() if got == label)
        support = sum(count for (want, _), count in pairs.items() if want == label)
        per_intent[label] = IntentStats(_share(hits, routed), _share(hits, support), support)
    out_of_scope = [got for want, got in zip(expected, predicted, strict=True) if want == OUT_OF_SCOPE]
    errors = [
        {"text": row.text, "expected": row.intent, "routed": r.intent, "score": round(r.score, 4),
         "runner_up": r.runner_up, "runner_up_score": round(r.runner_up_score, 4)}
        for row, r in zip(rows, routings, strict=True) if r.intent != row.intent
    ]
    return RoutingReport(
        total=len(rows),
        accuracy=_share(sum(pairs[(label, label)] for label in labels), len(rows)),
        false_activation_rate=_share(sum(got in STORE_FLOWS for got in out_of_scope), len(out_of_scope)),
        out_of_scope_total=len(out_of_scope),
        per_intent=per_intent,
        confusions=sorted(
            ((want, got, count) for (want, got), count in pairs.items() if want != got), key=lambda c: (-c[2], c[:2])
        ),
        errors=errors,
    )


def calibrate(
    router: IntentRouter, rows: list[Row], thresholds: list[float], similarities: list[float]
) -> list[tuple[float, float, float, float]]:
    """(probability threshold, similarity floor, accuracy, false activation) for every pair.

    The classifier is trained once and messages are embedded once; only the decision changes."""
    results = []
    for threshold in thresholds:
        for similarity in similarities:
            report = evaluate_routing(router.with_limits(threshold, similarity), rows)
            results.append((threshold, similarity, report.accuracy, report.false_activation_rate))
    return results


def format_report(report: RoutingReport) -> str:
    lines = [
        f"utterances        {report.total}",
        f"accuracy          {report.accuracy:.1%}",
        f"false activation  {report.false_activation_rate:.1%} of {report.out_of_scope_total} out-of-scope "
        "utterances routed to a store flow",
        "",
        f"{'intent':<18}{'precision':>10}{'recall':>8}{'support':>9}",
    ]
    for label, stats in report.per_intent.items():
        lines.append(f"{label:<18}{stats.precision:>10.1%}{stats.recall:>8.1%}{stats.support:>9}")
    lines += ["", "confusions (expected -> routed: count)"]
    lines += [f"  {want} -> {got}: {count}" for want, got, count in report.confusions[:_CONFUSIONS_SHOWN]]
    if len(report.confusions) > _CONFUSIONS_SHOWN:
        lines.append(f"  ... {len(report.confusions) - _CONFUSIONS_SHOWN} more in the JSON report")
    return "\n".join(lines)


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0
