"""`search_knowledge`: the help-centre search the model can call for follow-up questions."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from knowledge.base import KnowledgeBase
from tools.base import Tool, ToolResult, tool


def knowledge_tools(kb: KnowledgeBase) -> list[Tool]:
    @tool(backend="knowledge")
    async def search_knowledge(
        query: Annotated[str, Field(min_length=2, max_length=500, description="What to look up, in plain words")],
    ) -> ToolResult:
        """Search the shop's help-centre articles (shipping, returns, refunds, payments, warranty, accounts).

        Returns the most relevant passages; cite them by their `ref` number.
        """
        passages = kb.relevant(await kb.asearch(query))
        if not passages:
            return ToolResult.success([], message="No help-centre article matches this query.")
        return ToolResult.success(sources=tuple(passages))

    return [search_knowledge]
