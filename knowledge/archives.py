"""Zip-based files (DOCX, XLSX, ODT...) checked from their central directory, before anything is inflated.

A 1 MB DOCX can inflate to gigabytes (a zip bomb); the parser would find out only after the memory is gone.
The central directory declares every member's packed and unpacked size, so the count, the total and the ratio
are known up front. Python's `zipfile` never inflates a member past its declared size (it stops there and the
CRC check fails), so a member lying about its size cannot get past these limits either.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from functools import lru_cache

from knowledge.errors import ConversionError
from knowledge.settings import KnowledgeSettings

KILOBYTE = 1024
MEGABYTE = 1024 * 1024


@dataclass(frozen=True)
class ArchiveLimits:
    max_unpacked_bytes: int
    max_ratio: float
    max_members: int
    ratio_grace_bytes: int = 0

    @classmethod
    def from_settings(cls, settings: KnowledgeSettings) -> ArchiveLimits:
        return cls(int(settings.archive_max_unpacked_mb * MEGABYTE), settings.archive_max_ratio,
                   settings.archive_max_members, int(settings.archive_ratio_grace_kb * KILOBYTE))


@lru_cache
def configured_limits() -> ArchiveLimits:
    """The limits from the environment, read once per process."""
    return ArchiveLimits.from_settings(KnowledgeSettings())


def check_archive(archive: zipfile.ZipFile, limits: ArchiveLimits) -> None:
    """Raise `ConversionError` if the archive would unpack to too much; reads only the central directory."""
    members = archive.infolist()
    if len(members) > limits.max_members:
        raise ConversionError(f"the file holds too many parts ({len(members)}; the limit is {limits.max_members})")
    unpacked = sum(member.file_size for member in members)
    if unpacked > limits.max_unpacked_bytes:
        raise ConversionError(
            f"the file would unpack to {unpacked / MEGABYTE:,.0f} MB, over the "
            f"{limits.max_unpacked_bytes / MEGABYTE:g} MB limit"
        )
    for member in members:
        # max(…, 1): a member stored in 0 bytes that claims content is as suspicious as a huge ratio.
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > limits.ratio_grace_bytes and ratio > limits.max_ratio:
            raise ConversionError(
                "the file is compressed suspiciously well (it may be a zip bomb), so it was not opened"
            )
