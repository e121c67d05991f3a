"""CSV downloads for the workspace: streamed row by row, with spreadsheet formulas defused.

A cell a customer wrote ("=HYPERLINK(...)", "+1-555...", "@SUM(...)") would run as a formula when a lead opens
the file in Excel or LibreOffice. Cells starting with = + - @ (or a tab or carriage return, which some
spreadsheets strip before reading a formula) get a leading apostrophe, OWASP's advice for CSV injection.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any

from fastapi.responses import StreamingResponse

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """One cell as text; None is empty, times are ISO 8601 UTC, and formula-like text is quoted."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds") + ("Z" if value.tzinfo is None else "")
    text = str(value)
    if isinstance(value, bool | int | float):
        return text  # a number is not a formula, even when negative
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _line(cells: Iterable[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([safe_cell(cell) for cell in cells])
    return buffer.getvalue()


async def _lines(header: Sequence[str], rows: AsyncIterator[Sequence[Any]]) -> AsyncIterator[str]:
    yield "\ufeff" + _line(header)  # the byte-order mark makes Excel read UTF-8 (emoji, accents) correctly
    async for row in rows:
        yield _line(row)


def csv_response(filename: str, header: Sequence[str], rows: AsyncIterator[Sequence[Any]],
                 headers: dict[str, str] | None = None) -> StreamingResponse:
    """A streamed download of `rows` under `header`; `filename` must be plain ASCII (it is not escaped)."""
    extra = dict(headers or {})
    extra["Content-Disposition"] = f'attachment; filename="{filename}"'
    extra.setdefault("Cache-Control", "private, no-store")
    return StreamingResponse(_lines(header, rows), media_type="text/csv; charset=utf-8", headers=extra)
