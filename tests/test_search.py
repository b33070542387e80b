"""Two-stage search over the sample catalog with tiny random CLIP and cross-encoder models.

Random weights cannot judge relevance, but they give exact properties: a catalog cover queried
with itself, and a book's exact indexed text, must come back first.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, SAMPLE_CATALOG, ingest

from multimodal import Folio, SearchFilters, StoreMismatch, open_ingest
from multimodal.records import BookRecord

COVERS = SAMPLE_CATALOG.parent / "covers"


def catalog_rows() -> list[dict[str, str]]:
    with SAMPLE_CATALOG.open() as stream:
        return list(csv.DictReader(stream))


@pytest.mark.parametrize("book_id", ["sample-001", "sample-012", "sample-027", "sample-040", "sample-058"])
def test_cover_queried_with_itself_comes_first(clip_folio: Folio, book_id: str):
    result = clip_folio.search(image=COVERS / f"{book_id}.png")
    assert result.cross_scored
    assert result.hits[0].book_id == book_id
    assert result.hits[0].signals["image_vs_cover"] == pytest.approx(1.0, abs=1e-4)
    assert result.hits[0].signals["perceptual"] == 1.0


@pytest.mark.parametrize("book_id", ["sample-001", "sample-027", "sample-058"])
def test_stage_one_finds_the_exact_cover(clip_folio: Folio, book_id: str):
    """Without cross-scoring the cover channel still ranks the exact cover above every other.

    (The fused stage-1 order also weighs text channels, which random weights turn into noise;
    sample covers of one genre share a design, so only the cover channel's order is exact here.)
    """
    result = clip_folio.search(image=COVERS / f"{book_id}.png", cross_score=False, k=200)
    assert not result.cross_scored and all(hit.stage2_score is None for hit in result.hits)
    best = max(result.hits, key=lambda hit: hit.signals.get("image_vs_cover", -1.0))
    assert best.book_id == book_id


@pytest.mark.parametrize("index", [0, 9, 33, 63])
@pytest.mark.parametrize("cross_score", [True, False])
def test_exact_indexed_text_comes_first(clip_folio: Folio, index: int, cross_score: bool):
    row = catalog_rows()[index]
    record = BookRecord(row["id"], row["title"], row["author"], row["description"], genre=row["genre"])
    result = clip_folio.search(text=record.document, cross_score=cross_score)
    assert result.hits[0].book_id == row["id"]


def test_hits_carry_both_stages_and_timings(clip_folio: Folio):
    result = clip_folio.search(text="a lighthouse keeper", k=5)
    assert len(result.hits) == 5
    assert [hit.rank for hit in result.hits] == [1, 2, 3, 4, 5]
    for hit in result.hits:
        assert hit.stage2_score is not None and hit.score == hit.stage2_score
        assert hit.stage1_rank >= 1 and "cross_encoder" in hit.signals and "text_vs_text" in hit.signals
    assert [hit.score for hit in result.hits] == sorted((hit.score for hit in result.hits), reverse=True)
    assert {"encode", "vector_search", "merge", "cross_score", "total"} <= set(result.timings_ms)

    plain = clip_folio.search(text="a lighthouse keeper", k=5, cross_score=False)
    assert all(hit.stage2_score is None and hit.score == hit.stage1_score for hit in plain.hits)
    assert [hit.stage1_rank for hit in plain.hits] == [1, 2, 3, 4, 5]


def test_every_candidate_gets_its_exact_similarity_on_every_channel(clip_folio: Folio):
    """Similarities come from the channel that returned a book, else from its stored vectors: both are exact."""
    query = "a lighthouse keeper's winter"
    result = clip_folio.search(query, k=100, cross_score=False, min_score=0.0)
    assert result.candidates > clip_folio.settings.shortlist  # the channels returned different books
    vector = clip_folio.models.text_encoder.encode_texts([query])[0]
    store = open_ingest(clip_folio.settings, models=clip_folio.models).store  # the vectors as stored
    stored = store.fetch([hit.book_id for hit in result.hits])
    for hit in result.hits:
        book = stored[hit.book_id]
        best_passage = book.similarity("passages", vector)  # the tiny CLIP reads 77 tokens: every book has passages
        assert best_passage is not None
        whole_text = float(np.dot(vector, book.text_vector))
        assert hit.signals["text_vs_text"] == pytest.approx(max(whole_text, best_passage), abs=1e-3)
        if book.cover_vector is not None:
            assert hit.signals["text_vs_cover"] == pytest.approx(float(np.dot(vector, book.cover_vector)), abs=1e-3)


def test_text_and_image_together(clip_folio: Folio):
    row = catalog_rows()[20]
    result = clip_folio.search(text=row["title"], image=COVERS / f"{row['id']}.png")
    assert result.hits[0].book_id == row["id"]
    assert {"text_vs_text", "image_vs_cover", "cross_encoder", "perceptual"} <= set(result.hits[0].signals)


def test_min_score_cuts_off_weak_hits(clip_folio: Folio):
    everything = clip_folio.search(text="storm", k=200, min_score=0)
    assert all(0.0 <= hit.relevance <= 1.0 for hit in everything.hits)
    cut = sorted(hit.relevance for hit in everything.hits)[len(everything.hits) // 2]
    kept = clip_folio.search(text="storm", k=200, min_score=cut)
    assert kept.hits and all(hit.relevance >= cut for hit in kept.hits)
    assert len(kept.hits) < len(everything.hits)
    clearly_above = {hit.book_id for hit in everything.hits if hit.relevance >= cut + 0.01}
    assert clearly_above <= {hit.book_id for hit in kept.hits}  # (bf16 forwards vary in the last digits)
    assert clip_folio.search(text="storm", min_score=1.01).hits == []


def test_filters_restrict_results(clip_folio: Folio):
    result = clip_folio.search(text="a journey", k=20, filters=SearchFilters(genre="horror"))
    assert result.hits and {hit.genre for hit in result.hits} == {"horror"}
    dated = clip_folio.search(text="a journey", k=20, filters=SearchFilters(year_min=1990, year_max=2000))
    assert all(1990 <= hit.year <= 2000 for hit in dated.hits)


def test_empty_query_returns_nothing(clip_folio: Folio):
    assert clip_folio.search(text="   ").hits == []


def test_reingest_changes_nothing(clip_folio: Folio, sample_catalog):
    before = clip_folio.count()
    summary = ingest(clip_folio.settings, sample_catalog)
    assert (summary.ingested, summary.updated, summary.unchanged) == (0, 0, 64)
    assert clip_folio.count() == before == 64


def test_store_survives_a_process_restart(clip_folio: Folio):
    settings = clip_folio.settings
    expected = [hit.book_id for hit in clip_folio.search(text="a haunted lighthouse", k=5).hits]
    script = (
        "import json; from multimodal import Folio, Settings;"
        f"s = Settings.model_validate_json({settings.model_dump_json()!r});"
        "print(json.dumps([h.book_id for h in Folio.open(s).search(text='a haunted lighthouse', k=5).hits]))"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == expected


def test_store_built_by_another_model_is_refused(clip_folio: Folio, tiny_clip_checkpoint, tmp_path):
    import torch

    other = tmp_path / "other-weights.pt"
    state = torch.load(tiny_clip_checkpoint)
    state["logit_scale"] = state["logit_scale"] + 1.0  # any change of weights is another model
    torch.save(state, other)
    with pytest.raises(StoreMismatch, match="re-embed"):
        Folio.open(clip_folio.settings.model_copy(update={"clip_pretrained": str(other)}))
    with pytest.raises(StoreMismatch, match="profile 'clip'"):
        Folio.open(clip_folio.settings.model_copy(update={"profile": "offline"}))


def test_more_like_a_book_leaves_it_out_and_finds_its_genre_mates(clip_folio: Folio):
    by_cover = clip_folio.more_like("sample-010", by="cover", k=5, min_score=0)
    assert len(by_cover.hits) == 5 and "sample-010" not in [hit.book_id for hit in by_cover.hits]
    assert "image_vs_cover" in by_cover.hits[0].signals and "perceptual" in by_cover.hits[0].signals
    by_text = clip_folio.more_like("sample-010", by="description", k=5, min_score=0)
    assert "sample-010" not in [hit.book_id for hit in by_text.hits]
    assert "cross_encoder" in by_text.hits[0].signals
    with pytest.raises(KeyError):
        clip_folio.more_like("no-such-book")
    with pytest.raises(ValueError, match="by must be"):
        clip_folio.more_like("sample-010", by="smell")


def test_more_like_this_cover_in_the_offline_profile_stays_in_genre(offline_folio):
    hits = offline_folio.more_like("sample-010", by="cover", k=3, min_score=0).hits
    genres = [hit.genre for hit in hits]  # sample covers share a palette and motif per genre
    assert genres[0] == "mystery" and genres.count("mystery") >= 2


def test_folio_open_validates_its_overrides(tmp_path):
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Folio.open(profile="offline", data_dir=tmp_path / "store", results="many")
    folio = Folio.open(profile="offline", data_dir=str(tmp_path / "store"), create=True)  # a str is a path
    assert folio.settings.data_dir == tmp_path / "store" and folio.count() == 0
