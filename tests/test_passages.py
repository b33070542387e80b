"""Passages of long descriptions: the rule, the search channel (real MiniLM), and the store keeping them in step."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from test_ingest import draw_cover, write_catalog
from test_resume import Crash, CrashingTexts

from ingest.job import IngestJob, IngestOptions
from multimodal import Folio
from multimodal.passages import TOKENS_PER_WORD, book_of, passage_id, passages, words_read_whole
from multimodal.records import BookRecord
from multimodal.service import LoadedModels, load_models
from multimodal.settings import Settings
from multimodal.store import BookStore

MINILM_WINDOW = 256

# ~330 words about a clockmaker's trade, then one sentence the query paraphrases: MiniLM's 256 word
# pieces end long before it.
CLOCKMAKER_LIFE = " ".join(
    [
        "Anselm Roth repairs clocks in a narrow workshop behind the cathedral of a small Alpine town.",
        "Every morning he winds the tower clock, oils the brass wheels, checks the pendulum against the",
        "noon signal from the railway station, and writes the deviation in a ledger his father began.",
        "He knows the town by its clocks: the baker's cuckoo that runs four minutes fast, the mayor's",
        "carriage clock that stops whenever the mayor is away, the school bell that nobody dares to touch.",
    ]
    * 5
)
PARROT_SENTENCE = "At the very end he teaches a stray parrot to recite the names of the drowned fishermen."
PARROT_QUERY = "a bird taught to repeat the list of sailors who were lost at sea"

OTHER_BOOKS = [
    ("A Garden of Quiet Hours", "A widow restores her late husband's rose garden and finds letters buried under it."),
    ("The Last Train to Brno", "Two strangers share a compartment on a night train during the winter of 1947."),
    ("Harbour Lights", "A fishing village prepares its boats for the autumn herring season."),
    ("Salt and Iron", "A blacksmith's daughter forges a sword for a king who never arrives."),
    ("The Violin Thief", "A conservatory student suspects her teacher of stealing a famous violin."),
    ("Counting Stars", "An astronomer in a desert observatory searches for a comet her mother once saw."),
]


def long_book_rows(folder: Path) -> list[dict[str, str]]:
    rows = [{"id": "clock", "title": "The Clockmaker", "author": "Mara Voss", "description": CLOCKMAKER_LIFE}]
    rows[0]["description"] += " " + PARROT_SENTENCE
    rows += [{"id": f"o{i}", "title": title, "author": f"Writer {i}", "description": text}
             for i, (title, text) in enumerate(OTHER_BOOKS)]  # fmt: skip
    for i, row in enumerate(rows):
        draw_cover(folder / f"c{i}.png", seed=i)
        row |= {"cover": f"c{i}.png", "genre": "fiction", "year": str(1980 + i)}
    return rows


@pytest.fixture(scope="module")
def offline_models() -> LoadedModels:
    return load_models(Settings(profile="offline", query_ocr=False))


def ingest(models: LoadedModels, data_dir: Path, catalog: Path, **options: object):
    settings = Settings(profile="offline", data_dir=data_dir)
    store = BookStore(settings, models.models.profile.name, models.models.identity)
    options.setdefault("cache_dir", data_dir / "cache")
    return IngestJob(models.models, store, IngestOptions(catalog=catalog, progress=False, **options)).run(), store


def stored_passages(store: BookStore) -> dict[str, list[str]]:
    """Book id → its stored passage ids, read from the passages' own metadata."""
    if store.passages is None:
        return {}
    got = store.passages.get(include=["metadatas"])
    found: dict[str, list[str]] = {}
    for pid, metadata in zip(got["ids"], got["metadatas"], strict=True):
        assert book_of(pid) == metadata["book_id"]
        found.setdefault(metadata["book_id"], []).append(pid)
    return {book_id: sorted(ids) for book_id, ids in found.items()}


def expected_passages(rows: list[dict[str, str]]) -> dict[str, list[str]]:
    expected = {}
    for row in rows:
        record = BookRecord(row["id"], row["title"], row["author"], row["description"], genre=row["genre"])
        found = passages(record, MINILM_WINDOW)
        if found:
            expected[row["id"]] = sorted(passage.passage_id for passage in found)
    return expected


# -- the rule ---------------------------------------------------------------------------------
def test_a_text_the_vector_reads_whole_gets_no_passages_and_a_longer_one_is_covered_word_for_word():
    fits = words_read_whole(MINILM_WINDOW)
    assert fits == MINILM_WINDOW // TOKENS_PER_WORD
    short = BookRecord("s", "Short", "A. Writer", " ".join(f"w{i}" for i in range(fits - 5)))
    assert passages(short, MINILM_WINDOW) == []

    words = [f"w{i}" for i in range(400)]
    record = BookRecord("long#p1", "Two Words", "A. Writer", " ".join(words))
    found = passages(record, MINILM_WINDOW)
    bodies = [passage.text.removeprefix("Two Words. ").split() for passage in found]
    assert all(passage.text.startswith("Two Words. ") for passage in found)
    assert all(len(passage.text.split()) <= fits for passage in found)  # each is read whole
    covered = {word for body in bodies for word in body}
    assert covered == set(words)  # every word, the last one too
    for before, after in itertools.pairwise(bodies):
        assert set(before) & set(after)  # consecutive passages overlap
    assert [book_of(passage.passage_id) for passage in found] == ["long#p1"] * len(found)
    assert passage_id("long#p1", 3) == "long#p1#p3"


# -- the channel, with the real MiniLM -----------------------------------------------------------
@pytest.fixture(scope="module")
def clockmaker_folio(tmp_path_factory: pytest.TempPathFactory, offline_models) -> Folio:
    folder = tmp_path_factory.mktemp("clockmaker")
    summary, store = ingest(offline_models, folder / "data", write_catalog(folder, long_book_rows(folder)))
    assert summary.ingested == 1 + len(OTHER_BOOKS)
    store.close()
    return Folio.open(Settings(profile="offline", data_dir=folder / "data", query_ocr=False))


def test_the_sentence_the_book_vector_never_reads_is_found_by_its_paraphrase(clockmaker_folio: Folio, offline_models):
    tokenizer = offline_models.models.text_encoder.model.tokenizer
    head = BookRecord("clock", "The Clockmaker", "Mara Voss", CLOCKMAKER_LIFE, genre="fiction").document
    assert len(tokenizer(head)["input_ids"]) > MINILM_WINDOW  # the parrot is beyond what the book vector reads

    result = clockmaker_folio.search(text=PARROT_QUERY, k=10, min_score=0.0)
    first = result.hits[0]
    assert first.book_id == "clock" and first.stage1_rank == 1
    # Found by its passage, and by nothing else: each book's whole-text vector alone puts another book
    # first, and the full-text channel gives it nothing (the paraphrase shares almost no word with it).
    query = offline_models.models.text_encoder.encode_texts([PARROT_QUERY])[0]
    stored = clockmaker_folio.store.fetch([hit.book_id for hit in result.hits])
    whole_text = {book_id: float(query @ book.text_vector) for book_id, book in stored.items()}
    assert max(whole_text, key=whole_text.get) != "clock"
    assert first.signals["text_vs_text"] > whole_text["clock"] + 0.1
    assert first.signals["text_vs_text"] == pytest.approx(stored["clock"].similarity("passages", query), abs=1e-3)
    assert not first.signals.get("fulltext")


def test_a_store_without_passages_is_searched_and_the_next_ingest_adds_them(offline_models, tmp_path: Path):
    rows = long_book_rows(tmp_path)
    catalog = write_catalog(tmp_path, rows)
    summary, store = ingest(offline_models, tmp_path / "data", catalog, passages=False)
    assert store.passages is None and store.info().passages == 0
    store.close()
    before = Folio.open(Settings(profile="offline", data_dir=tmp_path / "data", query_ocr=False))
    assert before.search(text=PARROT_QUERY, k=1, min_score=0.0).hits[0].book_id != "clock"  # what passages are for
    before.store.close()

    summary, store = ingest(offline_models, tmp_path / "data", catalog)  # the passage rule is in the content hash
    assert (summary.ingested, summary.updated, summary.unchanged) == (0, len(rows), 0)
    assert stored_passages(store) == expected_passages(rows) and store.info().passages > 0


# -- keeping passages in step with their books ---------------------------------------------------
def test_a_changed_description_replaces_its_passages_and_prune_and_rebuild_remove_them(offline_models, tmp_path):
    rows = long_book_rows(tmp_path)
    rows.append(dict(rows[0], id="clock2", title="The Clockmaker's Son"))
    catalog = write_catalog(tmp_path, rows)
    _, store = ingest(offline_models, tmp_path / "data", catalog)
    assert set(stored_passages(store)) == {"clock", "clock2"}
    assert stored_passages(store) == expected_passages(rows)

    rows[0]["description"] = CLOCKMAKER_LIFE[: len(CLOCKMAKER_LIFE) // 2]  # fewer passages
    rows[-1]["description"] = "A short blurb now."  # none
    summary, store = ingest(offline_models, tmp_path / "data", write_catalog(tmp_path, rows))
    assert summary.updated == 2
    assert stored_passages(store) == expected_passages(rows) and set(stored_passages(store)) == {"clock"}
    read = store.fetch(["clock", "clock2"])  # a search reads passages by the count on the text record
    assert len(read["clock"].passage_vectors) == len(expected_passages(rows)["clock"])
    assert read["clock2"].passage_vectors is None

    summary, store = ingest(
        offline_models, tmp_path / "data", write_catalog(tmp_path, rows[1:]), prune=True, force=True
    )
    assert summary.pruned == 1 and stored_passages(store) == {}

    BookStore.drop(Settings(profile="offline", data_dir=tmp_path / "data"))
    reopened = BookStore(Settings(profile="offline", data_dir=tmp_path / "data"), store.profile, store.identity)
    assert reopened.passages is None and reopened.count() == 0


def test_a_death_between_the_passage_and_text_writes_is_redone(offline_models, tmp_path: Path):
    rows = long_book_rows(tmp_path)
    catalog = write_catalog(tmp_path, rows)
    settings = Settings(profile="offline", data_dir=tmp_path / "data")
    store = BookStore(settings, offline_models.models.profile.name, offline_models.models.identity)
    store.texts = CrashingTexts(store.texts, crash_on=1)  # passages are written, the text record is not
    with pytest.raises(Crash):
        IngestJob(offline_models.models, store, IngestOptions(catalog=catalog, progress=False)).run()
    half = BookStore(settings, store.profile, store.identity)
    assert half.count() == 0 and stored_passages(half) == expected_passages(rows)

    summary, store = ingest(offline_models, tmp_path / "data", catalog)
    assert summary.ingested == len(rows) and summary.unchanged == 0  # no book counted as stored
    assert stored_passages(store) == expected_passages(rows)


def test_passage_vectors_are_the_passages_embedded(clockmaker_folio: Folio, offline_models):
    store = clockmaker_folio.store
    stored = store.fetch(["clock"])["clock"]
    record = stored.record
    texts = [passage.text for passage in passages(record, MINILM_WINDOW)]
    expected = offline_models.models.text_encoder.encode_texts(texts)
    assert stored.passage_vectors is not None and stored.passage_vectors.shape == expected.shape
    best = np.max(stored.passage_vectors @ expected.T, axis=0)  # each passage's stored vector, in any order
    assert best == pytest.approx([1.0] * len(texts), abs=1e-3)


# -- the clip profile (tiny random models): its 77-token window gives the sample catalog passages ------
def test_the_clip_profile_stores_and_searches_passages(clip_folio: Folio):
    info = clip_folio.info()
    assert info.passages > info.books  # sample blurbs are longer than 25 words: several passages each
    result = clip_folio.search(text="a lighthouse keeper's daughter", k=10, min_score=0.0)
    assert len(result.hits) == 10 and all("text_vs_text" in hit.signals for hit in result.hits)
