"""Convert: bytes of a file → a `Document` of typed elements, via `unstructured`.

The type is decided by content, not by the file name: a renamed executable is rejected
whatever it is called. PDF text is extracted with pypdf (unstructured's own PDF support
pulls a CUDA torchvision that breaks sentence-transformers) and then partitioned as text,
page by page, so every element keeps its page number.
"""

from __future__ import annotations

import csv
import email
import hashlib
import io
import zipfile
from pathlib import PurePath

from knowledge import offline_nlp
from knowledge.archives import ArchiveLimits, check_archive, configured_limits
from knowledge.errors import ConversionError
from knowledge.types import Document, Element
from knowledge.text import table_sentences

SUPPORTED = ("pdf", "docx", "html", "md", "txt", "csv", "eml")
_TEXT_SUFFIXES = {".md": "md", ".markdown": "md", ".txt": "txt", ".text": "txt", ".csv": "csv",
                  ".html": "html", ".htm": "html", ".eml": "eml"}
_SNIFF_BYTES = 4096
# The help centre and customers' files are English; naming it skips per-file language detection.
LANGUAGES = ["eng"]
_DROPPED = {"Header", "Footer", "PageBreak", "PageNumber", "Image"}
EMPTY = "the file is empty"


def detect_kind(data: bytes, filename: str, archive_limits: ArchiveLimits | None = None) -> str:
    """The file's real type, from its bytes; the suffix only chooses between text formats.

    A zip-based file is refused here, before any parser inflates it, if it would unpack to too much
    (`archive_limits`, or the KNOWLEDGE_ARCHIVE_* settings).
    """
    suffix = PurePath(filename).suffix.lower()
    if not data:
        raise ConversionError(EMPTY)
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile as exc:
            raise ConversionError("the file is a damaged archive") from exc
        check_archive(archive, archive_limits or configured_limits())
        names = archive.namelist()
        if "word/document.xml" in names:
            return "docx"
        raise ConversionError("archives other than Word documents are not supported")
    if suffix in (".pdf", ".docx"):
        raise ConversionError(f"the file is named {suffix} but its content is not a valid {suffix[1:].upper()}")
    head = data[:_SNIFF_BYTES]
    if b"\x00" in head:
        raise ConversionError("binary files of this type are not supported")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a multi-byte character cut at the sniff boundary
            raise ConversionError("the file is not readable text (only UTF-8 text files are supported)") from exc
        text = head[: exc.start].decode("utf-8")
    lowered = text.lstrip().lower()
    if lowered.startswith(("<!doctype html", "<html")) or suffix in (".html", ".htm"):
        return "html"
    if suffix == ".eml" or _looks_like_email(text):
        return "eml"
    kind = _TEXT_SUFFIXES.get(suffix)
    if kind is None:
        raise ConversionError(f"files of type {suffix or 'without an extension'} are not supported")
    if kind == "csv":
        try:
            csv.Sniffer().sniff("\n".join(text.splitlines()[:20]))
        except csv.Error as exc:
            raise ConversionError("the file is not valid CSV") from exc
    return kind


def _looks_like_email(text: str) -> bool:
    headers = {line.split(":", 1)[0].lower() for line in text.splitlines()[:30] if ":" in line}
    return {"from", "subject"} <= headers and bool(headers & {"to", "date", "mime-version", "message-id"})


def convert(data: bytes, filename: str, source: str | None = None, max_bytes: int | None = None,
            archive_limits: ArchiveLimits | None = None) -> Document:
    """Parse a file's bytes into a Document. Raises `ConversionError` with a reason a person can act on."""
    if max_bytes is not None and len(data) > max_bytes:
        raise ConversionError(f"the file is larger than the {max_bytes // (1024 * 1024)} MB limit")
    kind = detect_kind(data, filename, archive_limits)  # zip bombs are refused here, before a parser sees them
    offline_nlp.install()
    try:
        elements = _PARTITIONERS[kind](data)
    except ConversionError:
        raise
    except Exception as exc:  # unstructured and pypdf raise many types for damaged input
        raise ConversionError(f"the {kind.upper()} file could not be read ({type(exc).__name__})") from exc
    if not any(e.text.strip() for e in elements):
        raise ConversionError("no text could be extracted (a scanned PDF or an image needs OCR, which is not supported)")
    # A title in the middle of a PDF is a heading, not the document's name.
    first = next(e for e in elements if e.text.strip())
    title = first.text if first.kind == "title" else _title_from_name(filename)
    return Document(
        source=source or filename,
        content_hash=hashlib.sha256(data).hexdigest(),
        title=title,
        elements=elements,
        kind=kind,
    )


def _title_from_name(filename: str) -> str:
    return PurePath(filename).stem.replace("-", " ").replace("_", " ").strip().capitalize() or filename


def _elements(parts: list, page: int | None = None) -> list[Element]:
    out: list[Element] = []
    for part in parts:
        category = part.category
        if category in _DROPPED:
            continue
        meta = part.metadata
        page_number = page if page is not None else meta.page_number
        if category == "Table" and meta.text_as_html:
            out += [Element("table", row, page=page_number) for row in table_sentences(meta.text_as_html)]
        elif category == "Title":
            out.append(Element("title", part.text, depth=meta.category_depth or 0, page=page_number))
        elif category == "ListItem":
            out.append(Element("list_item", part.text, page=page_number))
        else:
            out.append(Element("text", part.text, page=page_number))
    return out


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConversionError("the file is not readable text (only UTF-8 text files are supported)") from exc


def _pdf(data: bytes) -> list[Element]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError
    from unstructured.partition.text import partition_text

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ConversionError("the PDF is password-protected")
        pages = [_page_text(page) for page in reader.pages]
    except PdfReadError as exc:
        raise ConversionError("the PDF is damaged and could not be read") from exc
    elements: list[Element] = []
    for number, text in enumerate(pages, 1):
        if text.strip():
            elements += _elements(partition_text(text=text, languages=LANGUAGES), page=number)
    return elements


def _page_text(page) -> str:
    """Layout mode keeps the gaps between paragraphs as blank lines, so unstructured can rejoin the
    lines a paragraph was wrapped into; plain mode drops them, and a paragraph's short last line
    ("order.") would pass for a heading."""
    try:
        text = page.extract_text(extraction_mode="layout")
    except Exception:  # layout mode is stricter about unusual fonts; plain text beats nothing
        return page.extract_text() or ""
    return "\n".join(" ".join(line.split()) for line in text.splitlines())


def _docx(data: bytes) -> list[Element]:
    from unstructured.partition.docx import partition_docx

    return _elements(partition_docx(file=io.BytesIO(data), languages=LANGUAGES))


def _html(data: bytes) -> list[Element]:
    from unstructured.partition.html import partition_html

    return _elements(partition_html(text=_decode(data), languages=LANGUAGES))


def _md(data: bytes) -> list[Element]:
    from unstructured.partition.md import partition_md

    return _elements(partition_md(text=_decode(data), languages=LANGUAGES))


def _txt(data: bytes) -> list[Element]:
    from unstructured.partition.text import partition_text

    return _elements(partition_text(text=_decode(data), languages=LANGUAGES))


def _csv(data: bytes) -> list[Element]:
    from unstructured.partition.csv import partition_csv

    return _elements(partition_csv(file=io.BytesIO(data), languages=LANGUAGES))


def _eml(data: bytes) -> list[Element]:
    from unstructured.partition.email import partition_email

    message = email.message_from_bytes(data)
    subject = (message.get("Subject") or "").strip()
    body = _elements(partition_email(file=io.BytesIO(data), languages=LANGUAGES))
    return ([Element("title", subject)] if subject else []) + body


_PARTITIONERS = {"pdf": _pdf, "docx": _docx, "html": _html, "md": _md, "txt": _txt, "csv": _csv, "eml": _eml}
