"""Every supported format, converted offline from real files the tests make; every kind of bad file."""

from __future__ import annotations

import os

import pytest

from knowledge.convert import convert, detect_kind
from knowledge.errors import ConversionError
from tests.files import CSV, HTML, MARKDOWN, TEXT, encrypt_pdf, make_docx, make_eml, make_pdf


@pytest.fixture(autouse=True)
def no_model_download(monkeypatch):
    """unstructured must never reach for its spaCy download; the network is blocked too (conftest)."""
    from unstructured.nlp import tokenize

    def refuse() -> None:
        raise AssertionError("unstructured tried to download its spaCy model")

    monkeypatch.setattr(tokenize, "_install_spacy_model", refuse)


def kinds(document) -> list[tuple[str, str]]:
    return [(e.kind, e.text) for e in document.elements]


def test_pdf_keeps_page_numbers():
    data = make_pdf([["Invoice 1042 for the Vortex blender."], ["Warranty: the Vortex blender is covered for 4 years."]])
    document = convert(data, "invoice-1042.pdf")
    assert document.kind == "pdf" and document.title.startswith("Invoice 1042")
    pages = {e.text: e.page for e in document.elements}
    assert any("4 years" in text and page == 2 for text, page in pages.items())


def test_pdf_paragraphs_wrapped_over_lines_stay_whole():
    """A wrapped paragraph's short last line must not pass for a heading (and name a section)."""
    data = make_pdf([[
        "Returns", "",
        "Returned items must be unused and in their original condition, with all parts, accessories",
        "and packaging included. Items that arrived damaged can be returned in any condition, on a",
        "delivered order.", "",
        "Final-Sale Items", "",
        "Gift cards and opened personal-care items cannot be returned.",
    ]])
    document = convert(data, "returns.pdf")
    assert [(e.kind, e.text) for e in document.elements] == [
        ("title", "Returns"),
        ("text", "Returned items must be unused and in their original condition, with all parts, accessories "
                 "and packaging included. Items that arrived damaged can be returned in any condition, on a "
                 "delivered order."),
        ("title", "Final-Sale Items"),
        ("text", "Gift cards and opened personal-care items cannot be returned."),
    ]


def test_docx_headings_become_titles():
    data = make_docx("Blender manual", {"Cleaning": ["Rinse the jug with warm water after every use."]})
    document = convert(data, "manual.docx")
    assert document.kind == "docx" and document.title == "Blender manual"
    assert ("title", "Cleaning") in kinds(document)
    assert ("text", "Rinse the jug with warm water after every use.") in kinds(document)


def test_html_and_markdown_keep_structure():
    html = convert(HTML, "care.html")
    assert html.title == "Lamp care guide" and ("title", "Bulbs") in kinds(html)
    md = convert(MARKDOWN, "tent.md")
    assert md.title == "Tent guide" and ("title", "Storage") in kinds(md)
    assert any("mildew" in text for _, text in kinds(md))


def test_text_csv_and_email():
    text = convert(TEXT, "gift-wrapping.txt")
    assert text.title == "GIFT WRAPPING" and any("three dollars" in t for _, t in kinds(text))
    table = convert(CSV, "stock.csv")
    assert ("table", "Aurora lamp: colour black; stock 0.") in kinds(table)
    mail = convert(make_eml("Broken blender", "My blender stopped after two days. Order #W1234567."), "mail.eml")
    assert mail.title == "Broken blender" and any("#W1234567" in t for _, t in kinds(mail))


def test_type_is_decided_by_content_not_name():
    assert detect_kind(make_pdf([["hello"]]), "notes.txt") == "pdf"
    assert detect_kind(HTML, "page.txt") == "html"
    with pytest.raises(ConversionError, match="not a valid PDF"):
        convert(b"just some text pretending", "fake.pdf")


@pytest.mark.parametrize(
    ("data", "name", "reason"),
    [
        (b"", "empty.txt", "empty"),
        (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage", "broken.pdf", "could not be read|damaged"),
        (None, "locked.pdf", "password-protected"),
        (os.urandom(2048), "junk.txt", "not readable text|binary"),
        (b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 64, "tool.bin", "binary"),
        (b"some text", "sheet.xlsx", "not supported"),
        (b"PK\x03\x04" + b"\x00" * 40, "archive.zip", "damaged archive"),
        (make_pdf([[]]), "scan.pdf", "no text could be extracted"),
    ],
)
def test_bad_files_are_refused_with_a_reason(data, name, reason):
    if data is None:
        data = encrypt_pdf(make_pdf([["secret terms"]]), "hunter2")
    with pytest.raises(ConversionError, match=reason):
        convert(data, name)


def test_oversized_files_are_refused_before_parsing():
    with pytest.raises(ConversionError, match="larger than the 1 MB limit"):
        convert(b"a" * (1024 * 1024 + 1), "big.txt", max_bytes=1024 * 1024)


def test_the_local_spacy_model_tags_verbs():
    from knowledge.offline_nlp import load_model, unstructured_model

    assert "VB" in [token.tag_ for token in load_model()("You can return items.")]
    # A one-sentence text is exactly where unstructured reads the tags.
    assert "VB" in [token.tag_ for token in unstructured_model()("You can return items.")]


def _partition_all(texts_and_names, model, monkeypatch):
    from unstructured.nlp import tokenize

    monkeypatch.setattr(tokenize, "_get_nlp", model)
    for cached in (tokenize._process_cached, tokenize.pos_tag, tokenize.word_tokenize, tokenize._tokenize_for_cache):
        cached.cache_clear()
    return [convert(data, name).elements for data, name in texts_and_names]


def test_tagging_only_what_unstructured_reads_keeps_its_decisions(monkeypatch):
    """The fast model must classify every element as the full tagger does (titles, narrative, lists)."""
    from pathlib import Path

    from knowledge import offline_nlp
    from unstructured.partition.text_type import is_possible_narrative_text, is_possible_title

    docs = Path(__file__).resolve().parent.parent / "knowledge" / "docs"
    tricky = ("WARRANTY CLAIMS. SEND US THE SERIAL NUMBER. WE REPLY IN TWO DAYS.", "Refund Policy For Gift Cards",
              "Free returns. Within 30 days.", "e.g. the blender, the kettle and the toaster", "1A. Risk Factors",
              "Dear Customer,", "Ship it. Now.", "We ship to Canada.", "Returns are always free", "Orders ship in 2 days. Tracking follows by email.")
    files = [(p.read_bytes(), p.name) for p in sorted(docs.glob("*.md"))]
    files += [(TEXT, "notes.txt"), (HTML, "page.html"), (MARKDOWN, "page.md"),
              ("\n\n".join(tricky).encode(), "tricky.txt")]
    offline_nlp.install()
    fast = _partition_all(files, offline_nlp.unstructured_model, monkeypatch)
    fast_calls = [(is_possible_narrative_text(t), is_possible_title(t)) for t in tricky]
    full = _partition_all(files, offline_nlp.load_model, monkeypatch)
    assert fast == full
    assert fast_calls == [(is_possible_narrative_text(t), is_possible_title(t)) for t in tricky]
