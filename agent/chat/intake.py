"""Files a customer attaches: checked, read into the conversation's own collection, and reported on.

Channels hand over files as `Upload`s (a path on disk from the page, bytes from the API); the checks
are ours, whatever the channel checked before: count, size before reading, type from content.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agent import metrics
from agent.runner.conversation import Conversation
from knowledge.pipeline import FileResult
from knowledge.uploads import UploadLibrary

log = logging.getLogger(__name__)
MEGABYTE = 1024 * 1024


@dataclass(frozen=True)
class Upload:
    """A file as a channel received it: on disk (`path`) or in memory (`data`)."""

    name: str
    path: Path | None = None
    data: bytes | None = None

    def size(self) -> int:
        return len(self.data) if self.data is not None else self.path.stat().st_size if self.path else 0

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        if self.path is None:
            return b""
        return self.path.read_bytes()


async def take_in(library: UploadLibrary, conversation: Conversation, files: Sequence[Upload]) -> str:
    """Index the files into this conversation's collection; the note tells the customer what happened."""
    notes = []
    if warning := library.too_many(len(files)):
        notes.append(warning)
        metrics.UPLOAD_REJECTIONS.labels("too_many").inc(len(files) - library.limits.max_files)
        files = files[: library.limits.max_files]
    for file in files:
        result = await _add(library, conversation, file)
        if result.status == "skipped":
            metrics.UPLOAD_REJECTIONS.labels("refused").inc()
            notes.append(f"I couldn't use **{file.name}**: {result.reason}.")
            continue
        if file.name not in conversation.uploads:
            conversation.uploads.append(file.name)
        notes.append(f"I've read **{file.name}**. You can ask me about it in this conversation.")
    return "\n\n".join(notes)


async def _add(library: UploadLibrary, conversation: Conversation, file: Upload) -> FileResult:
    try:
        if await asyncio.to_thread(file.size) > library.limits.max_bytes:  # refuse before reading it into memory
            mb = library.limits.max_bytes / MEGABYTE
            return FileResult(file.name, "skipped", reason=f"it is larger than the {mb:g} MB limit")
        data = await asyncio.to_thread(file.read)
        return await asyncio.to_thread(library.add, conversation.id, data, file.name)
    except Exception:
        log.exception("upload %s failed in conversation %s", file.name, conversation.id)
        return FileResult(file.name, "skipped", reason="something went wrong while reading it; please try again")
