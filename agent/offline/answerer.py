"""The offline answer engine: a `ChatModel` that needs no LLM.

It answers from the passages the orchestrator retrieved, quoting the sentences
closest in meaning to the question, each cited as [n]. With nothing relevant it
says it doesn't know and points to a human, rather than guess.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from collections.abc import AsyncIterator

import numpy as np

from agent.models.base import stream_text
from agent.models.messages import ModelRequest, ModelResponse, ModelStreamEvent
from agent.settings import AppSettings, OfflineSettings
from knowledge.embedder import Embedder
from knowledge.text import split_sentences

_SMALL_TALK_MAX_WORDS = 6  # longer messages carry a question even if they open with "hi"
_GREETING = re.compile(r"^(hi|hello|hey|hiya|howdy|good (morning|afternoon|evening))\b", re.I)
_THANKS = re.compile(r"\b(thanks|thank you|thx|ty|cheers|appreciate it)\b", re.I)
_GOODBYE = re.compile(r"\b(bye|goodbye|see you|that'?s all|that is all)\b", re.I)
# Sentences about the article rather than the question: "See Refunds.", "This page explains..."
_NOT_AN_ANSWER = re.compile(r"^((please )?(see|read)\b|this (page|article|guide|section)\b)", re.I)
_HUMAN = re.compile(r"\b(human|real person|agent|representative|someone real|operator|live chat)\b", re.I)


class OfflineAnswerEngine:
    name = "offline"

    def __init__(self, embedder: Embedder, settings: OfflineSettings, app: AppSettings) -> None:
        self.embedder = embedder
        self.settings = settings
        self.app = app
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    async def complete(self, request: ModelRequest) -> ModelResponse:
        return await asyncio.to_thread(self._answer, request)

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamEvent]:
        async for event in stream_text(await self.complete(request)):
            yield event

    def _answer(self, request: ModelRequest) -> ModelResponse:
        question = request.last_user_text
        text = self._small_talk(question)
        if text is None:
            text = self._extract(question, request) if request.context else self.dont_know()
        return ModelResponse(text=text, finish_reason="stop")

    def human_contact(self) -> str:
        return f"email {self.app.support_email} ({self.app.support_hours})"

    def dont_know(self) -> str:
        return (
            "I'm sorry, I don't know the answer to that, and I'd rather not guess. "
            f"A member of our support team can help you: {self.human_contact()}."
        )

    def _sentence_vectors(self, sentences: list[str]) -> np.ndarray:
        """Embeddings of knowledge-base sentences, cached: the same passages come back turn after turn."""
        missing = list(dict.fromkeys(s for s in sentences if s not in self._cache))
        if missing:
            for sentence, vector in zip(missing, self.embedder.embed(missing), strict=True):
                self._cache[sentence] = vector
        for sentence in sentences:
            self._cache.move_to_end(sentence)
        while len(self._cache) > self.settings.sentence_cache_size:
            self._cache.popitem(last=False)
        return np.stack([self._cache[s] for s in sentences])

    def _small_talk(self, text: str) -> str | None:
        if _HUMAN.search(text):
            return (
                f"Of course. Our support team is happy to help: {self.human_contact()}. "
                "Include your order number if your question is about an order."
            )
        if len(text.split()) > _SMALL_TALK_MAX_WORDS:
            return None
        if _GREETING.search(text):
            return (
                f"Hello! I'm the {self.app.store_name} assistant. Ask me about shipping, returns, "
                "refunds, payments, warranty or your account."
            )
        if _THANKS.search(text):
            return "You're welcome! Is there anything else I can help you with?"
        if _GOODBYE.search(text):
            return f"Thanks for contacting {self.app.store_name}. Have a great day!"
        return None

    def _extract(self, question: str, request: ModelRequest) -> str:
        candidates = [
            (ref, position, sentence)
            for ref, passage in enumerate(request.context, 1)
            for position, sentence in enumerate(split_sentences(passage.text))
            if not _NOT_AN_ANSWER.match(sentence) and not sentence.endswith(":")
        ]
        if not candidates:
            return self.dont_know()
        query = self.embedder.embed([question])[0]
        vectors = self._sentence_vectors([c[2] for c in candidates])
        scores = vectors @ query
        best = float(np.max(scores))
        if best < self.settings.min_sentence_score:
            return self.dont_know()  # a related article, but no sentence that answers the question
        floor = best - self.settings.sentence_margin
        ranked = sorted(range(len(candidates)), key=lambda i: -scores[i])
        chosen: list[int] = []
        for i in ranked:
            if len(chosen) == self.settings.max_sentences or scores[i] < floor:
                break
            # Several articles often state the same fact; quote it once.
            if all(vectors[i] @ vectors[j] < self.settings.duplicate_similarity for j in chosen):
                chosen.append(i)
        chosen.sort(key=lambda i: candidates[i][:2])  # reading order: by passage, then position
        parts: list[str] = []
        for n, i in enumerate(chosen):
            ref, _, sentence = candidates[i]
            last_of_ref = n + 1 == len(chosen) or candidates[chosen[n + 1]][0] != ref
            parts.append(f"{sentence} [{ref}]" if last_of_ref else sentence)
        return " ".join(parts)
