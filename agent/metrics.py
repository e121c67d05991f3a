"""The app's Prometheus metrics, defined once; the parts that do the work increment them.

They live in this process's default registry, so each instance serves its own numbers at /metrics and
Prometheus scrapes every instance (sum or average across them in the query, e.g. `sum(rate(...))`);
nothing here is shared between instances.

Label values are closed sets (a status, a tool the registry knows, an error kind), never ids or text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from tools.base import ToolResult

# Seconds: a turn runs from a fraction of a second (offline engine) to the CHAT_TURN_TIMEOUT_S default of 120.
TURN_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)
CIRCUIT_STATES = ("closed", "open", "half_open")

TURNS = Counter("support_turns", "Customer actions handled (kind: message or click)", ["kind", "status"])
TURN_SECONDS = Histogram("support_turn_seconds", "Time from receiving an action to its TurnDone", ["kind"],
                         buckets=TURN_BUCKETS)
FIRST_TOKEN_SECONDS = Histogram("support_first_token_seconds", "Time from receiving a message to the reply's first text",
                                buckets=TURN_BUCKETS)
TURNS_RUNNING = Gauge("support_turns_running", "Actions being handled right now on this instance")
TOOL_CALLS = Counter("support_tool_calls", "Tool calls by tool and outcome (ok, needs_confirmation or the error kind)",
                     ["tool", "outcome"])
RATE_LIMITED = Counter("support_rate_limited_messages", "Messages refused by the per-user rate limit")
MODEL_ERRORS = Counter("support_model_errors", "Turns that failed on the model (timeout, unavailable, bad response...)",
                       ["kind"])
# reason: "too_many" (files past UPLOADS_MAX_FILES) or "refused" (too large, wrong type, unreadable: the note says which).
UPLOAD_REJECTIONS = Counter("support_upload_rejections", "Attached files refused, by reason", ["reason"])
REFUSED_WHILE_DRAINING = Counter("support_refused_while_draining", "Messages refused because the instance is stopping")
HANDOVERS = Counter("support_handovers", "Live hand-overs by event: taken, handed_back, solved", ["event"])
HUMAN_MESSAGES = Counter("support_human_messages", "Messages written by staff in taken-over conversations, by outcome "
                         "(delivered live, queued for an absent customer)", ["outcome"])
ACTIVE_CONVERSATIONS = Gauge("support_active_conversations", "Chat sessions connected to this instance")
KNOWLEDGE_WARM_SECONDS = Gauge("support_knowledge_warm_seconds", "How long building the help centre's search indexes "
                               "at start took; 0 until they are built")


class CircuitCollector(Collector):
    """Each tool backend's circuit state, read at scrape time (an open circuit turns half-open by time alone)."""

    def __init__(self, states: Callable[[], dict[str, str]]) -> None:
        self.states = states

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily("support_circuit_state", "1 for each backend's current circuit state",
                                   labels=["backend", "state"])
        for backend, current in self.states().items():
            for state in CIRCUIT_STATES:
                family.add_metric([backend, state], 1.0 if state == current else 0.0)
        yield family


_circuits: CircuitCollector | None = None


def watch_circuits(states: Callable[[], dict[str, str]]) -> None:
    """Report the circuits of this process's tool registry (the latest one given, for tests that build several)."""
    global _circuits
    if _circuits is None:
        _circuits = CircuitCollector(states)
        REGISTRY.register(_circuits)
    _circuits.states = states


def count_tool_call(tool: str, result: ToolResult) -> None:
    """`tool` is a registered name or "unknown" (a model can make names up: they must not become labels)."""
    TOOL_CALLS.labels(tool, "ok" if result.ok else result.error or "error").inc()
