"""Ingestion throughput against raw embedding throughput, measured in the same run.

Corpus: the shipped docs in `knowledge/docs/` copied `--copies` times into a temporary
folder, one sub-folder per copy, each copy under its own file names and with one extra
line naming the copy, so every file has its own content hash and is really ingested.
`--formats md,html,txt,docx,pdf` writes the copies in those formats in turn (HTML rendered
from the Markdown, DOCX with real headings and list items, text PDFs of 45 lines a page).

Baseline: one raw `SentenceTransformer.encode` over exactly the texts the pipeline
embedded (each chunk's `embedding_text`), with the same batch size: the least work
ingestion needs. The pipeline adds conversion, cleaning, splitting, per-document
embedding and the Chroma writes on top. The two sides alternate copy by copy, so a busy
machine slows both alike. Printed in chunks per second and as a ratio to the baseline;
a second ingest of the unchanged folders is timed too.

    .venv/bin/python bench/bench_ingest.py [--copies N] [--formats md,html,txt,docx,pdf]
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import argparse  # noqa: E402
import io  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from knowledge.factory import build_backend, build_embedder, knowledge_base  # noqa: E402
from agent.settings import KnowledgeSettings, Settings  # noqa: E402
from knowledge.pipeline import embedding_text  # noqa: E402
from knowledge.types import Chunk  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "knowledge" / "docs"
TARGET = 0.8  # pipeline chunks/s as a share of raw encode chunks/s
PDF_LINE_CHARS = 90  # about a Letter page's width in 12 pt Helvetica
PDF_PAGE_LINES = 45


def _html(markdown_text: str, title: str) -> bytes:
    import markdown

    body = markdown.markdown(markdown_text)
    return f"<!doctype html><html><head><title>{title}</title></head><body>{body}</body></html>".encode()


def _docx(markdown_text: str) -> bytes:
    from docx import Document

    document = Document()
    for block in markdown_text.split("\n\n"):
        for line in block.splitlines() if block.lstrip().startswith("- ") else [" ".join(block.splitlines())]:
            level = len(line) - len(line.lstrip("#"))
            if level:
                document.add_heading(line[level:].strip(), level=level)
            elif line.startswith("- "):
                document.add_paragraph(line[2:], style="List Bullet")
            elif line.strip():
                document.add_paragraph(line)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _pdf(markdown_text: str) -> bytes:
    from tests.files import make_pdf

    lines = []
    for block in markdown_text.split("\n\n"):
        # The PDF's Helvetica is Latin-1 only.
        plain = " ".join(block.lstrip("#- ").splitlines()).encode("latin-1", "replace").decode("latin-1")
        lines += textwrap.wrap(plain, PDF_LINE_CHARS) + [""]
    return make_pdf([lines[i : i + PDF_PAGE_LINES] for i in range(0, len(lines), PDF_PAGE_LINES)])


def write_as(path: Path, markdown_text: str, fmt: str) -> None:
    """`path` without suffix; writes the Markdown document in `fmt`."""
    target = path.with_suffix(f".{fmt}")
    if fmt in ("md", "txt"):
        target.write_text(markdown_text, encoding="utf-8")
    else:
        target.write_bytes({"html": lambda: _html(markdown_text, path.stem), "docx": lambda: _docx(markdown_text),
                            "pdf": lambda: _pdf(markdown_text)}[fmt]())


def make_corpus(folder: Path, copies: int, formats: tuple[str, ...] = ("md",)) -> list[Path]:
    """One sub-folder per copy; returns them. File i of copy c is written in format (c + i) mod len(formats)."""
    files = sorted(p for p in DOCS.iterdir() if p.is_file() and not p.name.startswith("."))
    folders = []
    for copy in range(copies):
        sub = folder / f"copy-{copy:03d}"
        sub.mkdir()
        for i, path in enumerate(files):
            text = path.read_text(encoding="utf-8").rstrip("\n")
            text += f"\n\nThis is copy {copy + 1} of the {path.stem.replace('-', ' ')} page.\n"
            write_as(sub / f"{path.stem}-{copy:03d}", text, formats[(copy + i) % len(formats)])
        folders.append(sub)
    return folders


def main(copies: int, formats: tuple[str, ...]) -> None:
    with tempfile.TemporaryDirectory() as corpus_dir, tempfile.TemporaryDirectory() as store_dir:
        folders = make_corpus(Path(corpus_dir), copies, formats)
        cfg = KnowledgeSettings(store_dir=Path(store_dir), docs_dir=Path(corpus_dir))
        settings = Settings(knowledge=cfg)
        embedder = build_embedder(cfg)
        backend = build_backend(settings.knowledge, embedder)
        kb = knowledge_base(settings.knowledge, backend.open(cfg.collection), embedder)

        # Warm-up: model load, the first forward passes, and the converter's spaCy model and
        # Chroma's first write (one shipped document into a throwaway collection).
        model = embedder._load()
        model.encode(["warm up"] * embedder.batch_size)
        warm = knowledge_base(settings.knowledge, backend.open("bench-warmup"), embedder)
        warm.ingest([DOCS / "returns.md"])
        backend.drop("bench-warmup")

        # Alternate the two sides copy by copy, so load from other processes hits both alike.
        n_files = chunks = 0
        pipeline_s = raw_s = 0.0
        for folder in folders:
            report = kb.ingest([folder])
            pipeline_s += report.seconds
            n_files += len(report.results)
            chunks += report.chunks_written
            if report.of("skipped") or len(report.of("added")) != len(report.results):
                print(f"warning: {folder.name}: {len(report.of('added'))} of {len(report.results)} files added",
                      file=sys.stderr)
            # Exactly the texts the pipeline embedded for this copy, rebuilt from what it stored.
            root = str(folder.resolve())
            texts = [
                embedding_text(Chunk(id=i, text=t, source=str(m["source"]), title=str(m.get("title", "")),
                                     section=str(m.get("section", ""))))
                for i, t, m in kb.store.texts() if m.get("root") == root
            ]
            assert len(texts) == report.chunks_written, (len(texts), report.chunks_written)
            start = time.perf_counter()
            for first in range(0, len(texts), embedder.batch_size):  # the batches the pipeline's passes run
                model.encode(texts[first:first + embedder.batch_size])
            raw_s += time.perf_counter() - start

        again = kb.ingest(folders)
        unchanged = len(again.of("unchanged"))

    pipeline_rate, raw_rate = chunks / pipeline_s, chunks / raw_s
    ratio = pipeline_rate / raw_rate
    print(f"{n_files} files ({copies} copies of {n_files // copies} docs as {', '.join(formats)}), {chunks} chunks, "
          f"batch size {embedder.batch_size}")
    print("| measure | files | chunks | seconds | chunks/s |")
    print("|---|---|---|---|---|")
    print(f"| raw encode of the same chunk texts (baseline) | | {chunks} | {raw_s:.1f} | {raw_rate:.1f} |")
    print(f"| ingest pipeline (convert, clean, split, embed, write) | {n_files} | {chunks} "
          f"| {pipeline_s:.1f} | {pipeline_rate:.1f} |")
    print(f"| ratio pipeline / baseline | | | | {ratio:.2f}x (target >= {TARGET:.1f}x: "
          f"{'PASS' if ratio >= TARGET else 'MISS'}) |")
    print(f"| second ingest, all unchanged | {n_files} ({unchanged} unchanged) | 0 | {again.seconds:.1f} | |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--formats", default="md", help="comma-separated, from md, html, txt, docx, pdf")
    args = parser.parse_args()
    main(args.copies, tuple(f.strip() for f in args.formats.split(",")))
