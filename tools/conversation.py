"""Tools about the conversation itself rather than a backend: taking back a change the customer asked for.

A write only previews and waits for the customer's Confirm click. When the customer calls the request off in
words ("actually, don't cancel it"), the model calls `withdraw_change`; the runner then retires that card's
buttons, so a later click changes nothing. The offline engine does the same by itself (ModelResponse.withdraw).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from tools.base import Tool, ToolResult, tool

MAX_TOOL_NAME_CHARS = 64  # OpenAI's limit on a function name

WriteName = Annotated[str, Field(
    min_length=1, max_length=MAX_TOOL_NAME_CHARS, pattern=r"^[A-Za-z0-9_-]+$",
    description="The name of the write tool whose change the customer took back, as you called it",
)]


def conversation_tools() -> list[Tool]:
    @tool(backend="conversation", withdraws=True)
    def withdraw_change(tool: WriteName) -> ToolResult:
        """Take back a change the customer asked for and then called off before confirming it ("don't cancel it
        after all", "forget the address change"). Its confirmation card is retired, so nothing is changed.

        Call it only for a change that is waiting for the customer's confirmation.
        """
        return ToolResult(ok=True, message="The change was taken back; nothing was changed.", withdrawn=tool)

    return [withdraw_change]
