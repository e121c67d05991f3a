"""Tools built from typed Python functions, and the vocabulary a model uses to call them.

The JSON schema the model sees comes from the function's signature (pydantic does the work); the
whole docstring is the description. A tool declares what it is on `@tool(...)`: whether it writes
(and so only previews until the customer confirms), which argument names the order it acts on, and
whether it hands the conversation over to a human. Nothing else lists tool names. A tool never
raises into the agent loop: every failure becomes a `ToolResult`.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from knowledge.types import Passage
from tools.errors import ErrorKind, ToolDefinitionError

_AWAITING = "needs_confirmation"  # the wire word a model sees for a previewed write (see the prompt)


@dataclass(frozen=True)
class ToolCall:
    """A model's request to run a tool."""

    id: str
    name: str
    arguments: str  # raw JSON text as the model produced it; the registry validates it


@dataclass(frozen=True)
class ToolSpec:
    """What a model is told about a tool, and what the tool declared about itself."""

    name: str
    description: str
    parameters: dict[str, Any]
    writes: bool = False  # previews only; applies after the customer's confirmation
    acts_on: str | None = None  # the argument naming the order (or record) the tool acts on
    hands_over: bool = False  # passes the conversation to a human colleague
    identifies: bool = False  # finds the customer the conversation acts for
    withdraws: bool = False  # takes back a change whose card waits (its success names the write in `withdrawn`)


@dataclass(frozen=True)
class ToolContext:
    """Who the tool acts for. Injected when a tool's first parameter is annotated with it."""

    conversation_id: str
    user_id: str | None = None  # the signed-in account, if any
    customer_id: str | None = None  # the store customer this conversation acts for, once identified
    # The token of the customer's Confirm click. Only the UI's action callback and the CLI's --confirm
    # set it; nothing the model writes or reads can. Without it a write tool only previews.
    confirmation: str | None = None


@dataclass(frozen=True)
class ToolResult:
    ok: bool
    data: Any = None
    error: ErrorKind | None = None
    message: str = ""  # safe to show a customer
    sources: tuple[Passage, ...] = ()
    identified: str | None = None  # a customer id the conversation acts for from now on
    ticket: str | None = None  # the ticket a hand-over opened (a `hands_over` tool sets it on success)
    withdrawn: str | None = None  # the write tool whose waiting card is retired (a `withdraws` tool sets it)

    @property
    def awaiting_confirmation(self) -> bool:
        """A write previewed, not applied: it waits for the customer's confirmation."""
        return self.error == _AWAITING

    @property
    def summary(self) -> list[str]:
        """The lines a confirmation card shows, for a result awaiting confirmation."""
        return list(self.data.get("summary", [])) if isinstance(self.data, dict) else []

    @classmethod
    def success(cls, data: Any = None, message: str = "", sources: tuple[Passage, ...] = ()) -> ToolResult:
        return cls(ok=True, data=data, message=message, sources=sources)

    @classmethod
    def fail(cls, error: ErrorKind, message: str) -> ToolResult:
        return cls(ok=False, error=error, message=message)

    @classmethod
    def needs_confirmation(cls, summary: list[str], preview: Any = None) -> ToolResult:
        """A write previewed, not applied: the customer must click Confirm on exactly this."""
        message = "Nothing has changed yet. The customer must confirm: " + " ".join(summary)
        return cls(ok=False, error=_AWAITING, message=message, data={"summary": summary, "preview": preview})

    def for_model(self) -> str:
        body: dict[str, Any] = {"ok": self.ok}
        if self.ok or self.awaiting_confirmation:
            body["data"] = self.data
        if not self.ok:
            body["error"] = self.error
        if self.message:
            body["message"] = self.message
        return json.dumps(body, default=str, ensure_ascii=False)


@dataclass
class Tool:
    name: str
    description: str
    fn: Callable[..., Any]
    params: type[BaseModel]
    takes_context: bool
    backend: str = "default"  # tools sharing a backend share a circuit breaker
    writes: bool = False  # a write that runs only with the customer's confirmation (see ToolContext)
    acts_on: str | None = None  # the argument naming the record it acts on (a newer card replaces an older one)
    hands_over: bool = False  # opens a hand-over to a human; like a write, never retried
    identifies: bool = False  # looks up who the customer is (its success carries `identified`)
    withdraws: bool = False  # retires the waiting card of the write its success names (`withdrawn`)
    schema: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.schema = _clean_schema(self.params.model_json_schema())
        if self.acts_on is not None and self.acts_on not in self.schema.get("properties", {}):
            raise ToolDefinitionError(f"{self.name}: acts_on={self.acts_on!r} is not one of its arguments")

    @property
    def retried(self) -> bool:
        """Only reads are retried: a write or a hand-over sent twice could happen twice."""
        return not (self.writes or self.hands_over)

    @cached_property
    def spec(self) -> ToolSpec:
        # One object per tool: a model adapter encodes each declaration once and knows it again by identity.
        return ToolSpec(self.name, self.description, self.schema, self.writes, self.acts_on, self.hands_over,
                        self.identifies, self.withdraws)

    def parse(self, arguments: str | dict[str, Any]) -> BaseModel | ToolResult:
        try:
            raw = json.loads(arguments or "{}") if isinstance(arguments, str) else arguments
            return self.params.model_validate(raw)
        except json.JSONDecodeError:
            return ToolResult.fail("invalid", f"Arguments for {self.name} are not valid JSON.")
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors())
            return ToolResult.fail("invalid", f"Invalid arguments for {self.name}: {problems}")


def _clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return schema


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    backend: str = "default",
    writes: bool = False,
    acts_on: str | None = None,
    hands_over: bool = False,
    identifies: bool = False,
    withdraws: bool = False,
) -> Any:
    """Turn a typed function (sync or async) into a `Tool`.

    `writes=True` marks a write that previews until the customer confirms; `acts_on` names the argument
    holding the order it changes; `hands_over=True` marks a hand-over to a human colleague; `identifies=True`
    a lookup of who the customer is; `withdraws=True` takes back a change whose confirmation card waits.
    """

    def build(func: Callable[..., Any]) -> Tool:
        hints = get_type_hints(func, include_extras=True)
        params = list(inspect.signature(func).parameters.values())
        takes_context = bool(params) and hints.get(params[0].name) is ToolContext
        fields: dict[str, Any] = {}
        for param in params[1:] if takes_context else params:
            if param.name not in hints:
                raise ToolDefinitionError(f"{func.__name__}: parameter {param.name!r} needs a type annotation")
            default = ... if param.default is inspect.Parameter.empty else param.default
            fields[param.name] = (hints[param.name], default)
        tool_name = name or func.__name__
        model = create_model(f"{tool_name}_arguments", __config__=ConfigDict(extra="forbid"), **fields)
        doc = inspect.getdoc(func)
        if not doc:
            raise ToolDefinitionError(f"{tool_name}: the docstring is the model's description; write one")
        # The whole docstring: rules such as "once per order: collect every item first" are in later paragraphs.
        return Tool(tool_name, doc, func, model, takes_context, backend, writes, acts_on, hands_over, identifies,
                    withdraws)

    return build(fn) if fn is not None else build
