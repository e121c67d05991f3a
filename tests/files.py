"""Real documents of every supported type, made by the tests (no binary fixtures in the repo)."""

from __future__ import annotations

import io
from email.message import EmailMessage


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(pages: list[list[str]]) -> bytes:
    """A text PDF (Helvetica), one list of lines per page, with a correct xref table."""
    objects: list[bytes] = []
    page_ids = [3 + 2 * i for i in range(len(pages))]
    font_id = 3 + 2 * len(pages)
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{pid} 0 R" for pid in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    for i, lines in enumerate(pages):
        content_id = page_ids[i] + 1
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {content_id} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
        for line in lines:
            ops += [f"({_pdf_escape(line)}) Tj", "T*"]
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def encrypt_pdf(data: bytes, password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(data)).pages:
        writer.add_page(page)
    writer.encrypt(user_password=password, owner_password=password + "-owner")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx(title: str, sections: dict[str, list[str]]) -> bytes:
    from docx import Document

    document = Document()
    document.add_heading(title, level=1)
    for heading, paragraphs in sections.items():
        document.add_heading(heading, level=2)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_eml(subject: str, body: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Dana Customer <dana@example.com>"
    message["To"] = "support@larkspurgoods.example"
    message["Subject"] = subject
    message["Date"] = "Mon, 23 Nov 2026 10:00:00 +0000"
    message.set_content(body)
    return bytes(message)


HTML = b"""<!doctype html><html><head><title>Care guide</title></head><body>
<h1>Lamp care guide</h1>
<h2>Cleaning</h2><p>Unplug the Aurora lamp before cleaning it. Wipe the shade with a dry microfiber cloth.</p>
<h2>Bulbs</h2><p>The Aurora lamp takes one E26 LED bulb of at most 9 watts.</p>
</body></html>"""

MARKDOWN = b"""# Tent guide

## Pitching

Stake the Ridgeline tent's corners first, then raise the two poles. It takes about ten minutes.

## Storage

Dry the tent completely before you pack it away, or mildew will grow on the fabric.
"""

TEXT = b"""GIFT WRAPPING

We offer gift wrapping for three dollars per item. Choose it at checkout and add a message of up to 200 characters.
"""

CSV = b"""product,colour,stock
Aurora lamp,white,12
Aurora lamp,black,0
Ridgeline tent,green,4
"""
