"""Tools built from typed Python functions.

The JSON schema the model sees comes from the function's signature (pydantic
does the work); the docstring's first paragraph is the description. A tool
never raises into the agent loop: every failure becomes a `ToolResult`.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from knowledge.types import Passage
from tools.errors import ToolDefinitionError

ErrorKind = Literal["not_found", "invalid", "unavailable", "needs_confirmation", "forbidden"]


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

    @property
    def summary(self) -> list[str]:
        """The lines a confirmation card shows, for a `needs_confirmation` result."""
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
        return cls(ok=False, error="needs_confirmation", message=message, data={"summary": summary, "preview": preview})

    def for_model(self) -> str:
        body: dict[str, Any] = {"ok": self.ok}
        if self.ok or self.error == "needs_confirmation":
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
    read_only: bool = True  # only read-only tools are retried
    confirm: bool = False  # a write that runs only with the customer's confirmation (see ToolContext)
    schema: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.schema = _clean_schema(self.params.model_json_schema())

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
    read_only: bool = True,
    confirm: bool = False,
) -> Any:
    """Turn a typed function (sync or async) into a `Tool`. `confirm=True` marks a write needing a Confirm click."""

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
        description = doc.split("\n\n")[0].replace("\n", " ")
        return Tool(tool_name, description, func, model, takes_context, backend, read_only and not confirm, confirm)

    return build(fn) if fn is not None else build
