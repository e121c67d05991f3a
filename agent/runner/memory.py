"""Rolling summaries of what fell out of a conversation's window.

Offline the summary is extractive: the customer's requests and the first sentence of each
answer, newest kept when over budget. With an LLM configured, the model writes it, and the
extractive summary is the fallback when the model fails.
"""

from __future__ import annotations

import logging

from agent.models.base import ChatModel
from agent.models.messages import Message, ModelRequest
from knowledge.text import split_sentences

log = logging.getLogger(__name__)
_STOPPED = " [stopped]"


class ExtractiveSummarizer:
    def __init__(self, max_sentences: int) -> None:
        self.max_sentences = max_sentences

    async def summarize(self, previous: str, dropped: list[Message]) -> str:
        return self.extract(previous, dropped)

    def extract(self, previous: str, dropped: list[Message]) -> str:
        lines = [line for line in previous.splitlines() if line.strip()]
        for message in dropped:
            first = next(iter(split_sentences(message.content.replace(_STOPPED, ""))), "").strip()
            if first:
                who = "Customer" if message.role == "user" else "Assistant"
                lines.append(f"- {who}: {first}")
        return "\n".join(lines[-self.max_sentences :])


class LLMSummarizer:
    """Asks the model for the summary; any failure falls back to the extractive one."""

    PROMPT = (
        "Update the running summary of a customer-support conversation. Keep facts that matter later: "
        "who the customer is, order numbers, products, what they asked, what was promised or done. "
        "At most {n} short bullet points. Reply with the bullets only."
    )

    def __init__(self, model: ChatModel, fallback: ExtractiveSummarizer) -> None:
        self.model = model
        self.fallback = fallback

    async def summarize(self, previous: str, dropped: list[Message]) -> str:
        transcript = "\n".join(f"{m.role}: {m.content}" for m in dropped)
        request = ModelRequest((
            Message.system(self.PROMPT.format(n=self.fallback.max_sentences)),
            Message.user(f"Summary so far:\n{previous or '(none)'}\n\nNew messages:\n{transcript}"),
        ))
        try:
            return (await self.model.complete(request)).text.strip() or self.fallback.extract(previous, dropped)
        except Exception:
            log.warning("summary by the model failed; using the extractive one", exc_info=True)
            return self.fallback.extract(previous, dropped)
