"""Zip-based files (DOCX) that would unpack to too much are refused from their central directory, before any
parser inflates them. The bombs are built here, in memory; nothing large is committed."""

from __future__ import annotations

import io
import zipfile

import pytest

from knowledge import convert as convert_module
from knowledge.archives import ArchiveLimits
from knowledge.convert import convert, detect_kind
from knowledge.errors import ConversionError
from tests.files import make_docx

MEGABYTE = 1024 * 1024
SMALL_LIMITS = ArchiveLimits(max_unpacked_bytes=100 * MEGABYTE, max_ratio=100.0, max_members=5)


def docx_bomb(unpacked_mb: int) -> bytes:
    """A DOCX whose document.xml inflates to `unpacked_mb` MB of spaces (~1000:1), declared honestly."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            chunk = b" " * MEGABYTE
            for _ in range(unpacked_mb):
                member.write(chunk)
    return out.getvalue()


@pytest.fixture(scope="module")
def gigabyte_bomb() -> bytes:
    bomb = docx_bomb(1024)
    assert len(bomb) < 2 * MEGABYTE  # a small upload, well under UPLOADS_MAX_SIZE_MB
    return bomb


@pytest.fixture
def no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail loudly if the DOCX parser is reached at all."""

    def parse(data: bytes) -> list:
        raise AssertionError("the DOCX parser was reached: the archive was not checked first")

    monkeypatch.setitem(convert_module._PARTITIONERS, "docx", parse)


def test_a_docx_that_inflates_to_a_gigabyte_is_refused_before_parsing(gigabyte_bomb: bytes, no_parsing: None) -> None:
    with pytest.raises(ConversionError, match=r"would unpack to 1,024 MB, over the 100 MB limit"):
        convert(gigabyte_bomb, "invoice.docx")


def test_the_upload_check_refuses_it_too(gigabyte_bomb: bytes) -> None:
    # Uploads ask for the type first (knowledge/uploads.py), so the bomb is refused there already.
    with pytest.raises(ConversionError, match="would unpack to"):
        detect_kind(gigabyte_bomb, "invoice.docx")


def test_a_member_compressed_like_a_bomb_is_refused_even_under_the_total(no_parsing: None) -> None:
    bomb = docx_bomb(20)  # 20 MB: under the total, but ~1000:1
    with pytest.raises(ConversionError, match="compressed suspiciously well"):
        convert(bomb, "invoice.docx", archive_limits=SMALL_LIMITS)


def test_small_parts_that_compress_well_are_not_taken_for_bombs() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", "<w:document/>")
        archive.writestr("word/settings.xml", " " * 50_000)  # ~500:1, but 50 KB
    graced = ArchiveLimits(100 * MEGABYTE, 100.0, 5, ratio_grace_bytes=100 * 1024)
    assert detect_kind(out.getvalue(), "invoice.docx", graced) == "docx"
    with pytest.raises(ConversionError, match="compressed suspiciously well"):
        detect_kind(out.getvalue(), "invoice.docx", SMALL_LIMITS)  # no grace: the same part is refused


def test_too_many_parts_are_refused(no_parsing: None) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>")
        for number in range(SMALL_LIMITS.max_members):
            archive.writestr(f"word/media/{number}.txt", "x")
    with pytest.raises(ConversionError, match=r"too many parts \(6; the limit is 5\)"):
        convert(out.getvalue(), "invoice.docx", archive_limits=SMALL_LIMITS)


def test_ordinary_word_documents_pass_the_configured_limits() -> None:
    data = make_docx("Warranty", {"Coverage": ["Blenders are covered for two years from delivery. " * 40] * 30})
    document = convert(data, "warranty.docx")
    assert document.kind == "docx" and "two years" in " ".join(e.text for e in document.elements)
