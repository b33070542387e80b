"""Hybrid retrieval: the full-text channel beside the vector channels, fused by rank so no channel's best is lost.

- A property (hypothesis): for any rankings, every channel's first is among the books stage 2 scores;
  and for any query of the sample catalog's words, on the real offline models, the same holds for
  the books the channels actually return.
- Decisive lexical matches come first after stage 2 too (Italian titles with an English-only model).
- The clip profile (tiny random models) uses the same channel and fusion.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import SHARED_DATA, ingest, needs_shared_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from multimodal import Folio, SearchFilters
from multimodal.fusion import CHANNEL_HEAD, RRF_K, fuse, reciprocal_rank_fusion, relevance, shortlist_for_stage2
from multimodal.lexicon import title_match, title_variants
from multimodal.profiles import list_profiles, load_profile
from multimodal.records import BookRecord
from multimodal.settings import Settings

# -- the fusion itself ------------------------------------------------------------------------
CHANNELS = ["text_vs_text", "fulltext", "image_vs_cover", "ocr_vs_text", "ocr_fulltext"]


@st.composite
def channel_rankings(draw: st.DrawFn) -> tuple[int, dict[str, list[int]], dict[str, float]]:
    size = draw(st.integers(min_value=1, max_value=120))
    names = draw(st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=len(CHANNELS), unique=True))
    candidates = st.lists(st.integers(min_value=0, max_value=size - 1), unique=True, max_size=60)
    rankings = {name: draw(candidates) for name in names}
    weights = {name: draw(st.floats(min_value=0.05, max_value=3.0)) for name in names}
    return size, rankings, weights


@given(channel_rankings(), st.integers(min_value=len(CHANNELS), max_value=60))
def test_every_channels_first_reaches_stage_2(case, stage2_size: int) -> None:
    size, rankings, weights = case
    fused = reciprocal_rank_fusion(rankings, weights, size)
    order = sorted(range(size), key=lambda i: -fused[i])
    scored = shortlist_for_stage2(order, rankings, stage2_size)
    assert len(scored) == min(stage2_size, size)
    for ranking in rankings.values():
        if ranking:
            assert ranking[0] in scored
    if stage2_size >= CHANNEL_HEAD * len(rankings):  # room for every channel's head
        assert all(book in scored for ranking in rankings.values() for book in ranking[:CHANNEL_HEAD])
    assert all(0.0 <= score <= 1.0 + 1e-9 for score in fused)


def test_rank_fusion_rewards_agreement_and_ignores_raw_scores() -> None:
    rankings = {"text_vs_text": [0, 1, 2], "fulltext": [1, 0, 2]}
    fused = reciprocal_rank_fusion(rankings, {"text_vs_text": 1.0, "fulltext": 1.0}, 4)
    assert fused[0] == pytest.approx(fused[1])  # first and second in one, second and first in the other
    assert fused[0] > fused[2] > fused[3] == 0.0
    alone = reciprocal_rank_fusion({"fulltext": [3]}, {"fulltext": 1.0}, 4)
    assert alone[3] == pytest.approx(1.0)
    assert RRF_K > 0


def test_a_weak_partial_title_match_does_not_outvote_a_clearly_nearer_text() -> None:
    # Book 0 is clearly nearest by its text; book 1 shares "the" and "of" with the query's title words.
    signals = [{"text_vs_text": 0.86, "title_match": 0.0}] + [{"text_vs_text": 0.79, "title_match": 0.0}] * 30
    signals[1] = {"text_vs_text": 0.79, "title_match": 0.3}
    fused = fuse(signals, {"text_vs_text": 1.0, "title_match": 1.0})
    assert fused[0] == max(fused)
    signals[1] = {"text_vs_text": 0.79, "title_match": 0.9}  # a real title match still counts
    fused = fuse(signals, {"text_vs_text": 1.0, "title_match": 1.0})
    assert fused[1] == max(fused)


def test_a_quoted_phrase_counts_toward_relevance_only_where_it_was_found() -> None:
    weights = {"text_vs_text": 1.0, "phrase_match": 1.0}
    assert relevance({"text_vs_text": 0.4, "phrase_match": 0.0}, weights) == pytest.approx(0.4)
    assert relevance({"text_vs_text": 0.4, "phrase_match": 1.0}, weights) == pytest.approx(0.7)


# -- on the real offline models -----------------------------------------------------------------
def sample_words() -> list[str]:
    with (Path(__file__).parent.parent / "assets" / "sample" / "catalog.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    return sorted({word for row in rows for word in f"{row['title']} {row['description']}".split()})


class StageSpy:
    """Records each channel's first book as stage 1 ranked them, and the books stage 2 scores."""

    def __init__(self, searcher) -> None:
        self.rank_stage1, self.pair_signals = searcher.rank_stage1, searcher.pair_signals
        self.firsts: list[str] = []
        self.scored: list[str] = []

    def ranked(self, *args, **kwargs):
        ranking = self.rank_stage1(*args, **kwargs)
        ids = [book.record.book_id for book in ranking.books]
        self.firsts = [ids[ranking[0]] for ranking in ranking.rankings.values() if ranking]
        return ranking

    def paired(self, query, books, *args):
        self.scored = [book.book_id for book in books]
        return self.pair_signals(query, books, *args)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.sampled_from(sample_words()), min_size=1, max_size=6))
def test_any_query_keeps_each_channels_first_among_the_scored(offline_folio: Folio, words: list[str]) -> None:
    searcher = offline_folio.searcher
    spy = StageSpy(searcher)
    searcher.rank_stage1, searcher.pair_signals = spy.ranked, spy.paired
    try:
        offline_folio.search(text=" ".join(words), k=5)
    finally:
        del searcher.rank_stage1, searcher.pair_signals
    assert spy.firsts, words
    assert set(spy.firsts) <= set(spy.scored), words


def test_a_typo_in_title_and_surname_still_finds_the_book(offline_folio: Folio) -> None:
    hit = offline_folio.search(text="honey undr the lighthuose ellsworth", k=3).hits[0]
    assert hit.title == "Honey Under the Lighthouse"
    assert hit.signals["fulltext"] > 0.9


def test_words_from_the_end_of_a_blurb_find_the_book(offline_folio: Folio) -> None:
    hit = offline_folio.search(text="a sweet stinging romance about wildflower honey", k=3).hits[0]
    assert hit.title == "Honey Under the Lighthouse"


def test_eight_words_quoted_from_any_blurb_find_the_book_first_and_pass_the_cut_off(offline_folio: Folio) -> None:
    # A quoted phrase is decisive: neither title words shared with other books nor the text vectors may
    # outvote it, and the book is shown at the default minimum relevance (not only in an evaluation).
    missed = []
    for book in offline_folio.records():
        words = book.description.split()
        if len(words) < 16:
            continue
        middle = len(words) // 2
        quote = " ".join(words[middle - 4 : middle + 4])
        hits = offline_folio.search(text=quote, k=3).hits
        if not hits or hits[0].book_id != book.book_id:
            missed.append((quote, book.title, [hit.title for hit in hits]))
    assert not missed, missed


def test_filters_apply_to_the_full_text_channel(offline_folio: Folio) -> None:
    title = "The Hollow Under Greywick"  # a horror book
    hits = offline_folio.search(text=title, k=10, filters=SearchFilters(genre="horror"), min_score=0.0).hits
    assert hits and all(hit.genre == "horror" for hit in hits)
    assert hits[0].title == title and "fulltext" in hits[0].signals
    hits = offline_folio.search(text=title, k=10, filters=SearchFilters(genre="romance"), min_score=0.0).hits
    assert hits and all(hit.genre == "romance" for hit in hits)


# -- a decisive lexical match in another language -----------------------------------------------
@pytest.fixture(scope="module")
def italian_folio(tmp_path_factory: pytest.TempPathFactory) -> Folio:
    """200 books of the Italian catalog and one more, ingested with the offline (English-only MiniLM) profile."""
    books = json.loads((SHARED_DATA / "italian-covers" / "books.json").read_text())
    chosen = [book for book in books if "Chatwin" in (book.get("author") or "")] + books[:200]
    extra = dict(books[0], isbn="test-siepe", title="Il buio oltre la siepe", author="Harper Lee")
    extra["description"] = "Nell'Alabama degli anni Trenta, l'avvocato Atticus Finch difende un nero accusato."
    folder = tmp_path_factory.mktemp("italian")
    catalog = folder / "books.json"
    catalog.write_text(json.dumps([*{book["isbn"]: book for book in chosen}.values(), extra]))
    settings = Settings(profile="offline", data_dir=folder / "store")
    ingest(settings, catalog, images_dir=SHARED_DATA / "italian-covers", allow_outside=True)
    return Folio.open(settings)


@needs_shared_data
@pytest.mark.slow
@pytest.mark.parametrize(
    ("query", "title"),
    [("sulla collina nera chatwin", "Sulla collina nera"), ("Il buio oltre la siepe", "Il buio oltre la siepe")],
)
def test_exact_title_in_italian_comes_first_after_both_stages(italian_folio: Folio, query: str, title: str) -> None:
    for cross_score in (False, True):
        hits = italian_folio.search(text=query, k=3, cross_score=cross_score).hits
        assert hits[0].title == title, [hit.title for hit in hits]


# -- every profile ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", list_profiles())
def test_every_profile_uses_the_full_text_channel_in_both_stages(name: str) -> None:
    profile = load_profile(name)
    assert profile.stage1_weights.get("fulltext", 0) > 0 and profile.stage1_weights.get("ocr_fulltext", 0) > 0
    assert profile.stage2_weights.get("fulltext", 0) > 0


# -- the clip profile ----------------------------------------------------------------------------
def test_clip_profile_uses_the_full_text_channel(clip_folio: Folio) -> None:
    # random CLIP weights cannot find a book by its title: the full-text channel does
    for title in ("Honey Under the Lighthouse", "The Cartographer's Valentine", "Letters to Saltmarsh Lane"):
        for cross_score in (False, True):
            hit = clip_folio.search(text=title.lower(), k=3, cross_score=cross_score).hits[0]
            assert hit.title == title
            assert hit.signals["fulltext"] == pytest.approx(1.0)


def test_a_cover_showing_only_the_main_title_matches_the_book_whole() -> None:
    """A catalog title with a subtitle is matched in full by its main title and author (a cover prints the
    subtitle small or not at all), and the subtitle still tells two books of the same main title apart."""
    zen = BookRecord(
        book_id="z", title="Zen e multiversi. Un viaggio nella fisica tra monaci", author="Anthony Aguirre"
    )
    other = BookRecord(book_id="o", title="Zen e multiversi: guida", author="Mario Rossi")
    read_on_cover = "Anthony Aguirre Zen e multiversi Bollati Boringhieri"
    assert title_match(read_on_cover, zen) > 0.9
    assert title_match(read_on_cover, zen) > title_match(read_on_cover, other)
    assert title_match("Zen e multiversi guida", other) > title_match("Zen e multiversi guida", zen)
    assert title_variants("Dr. Jekyll and Mr. Hyde") == ["Dr. Jekyll and Mr. Hyde"]  # an abbreviation is no subtitle
    assert title_variants("Works [37 plays, 6 poems, sonnets]") == ["Works [37 plays, 6 poems, sonnets]"]  # too generic
    # Italian non-fiction asks its main title: Italian-covers' tuning split read "CHE COS'È LA VITA? ADELPHI" whole.
    vita = BookRecord(book_id="v", title="Che cos'è la vita? La cellula vivente dal punto di vista fisico")
    assert title_variants(vita.title)[1] == "Che cos'è la vita"
    assert title_match("Ervin Schrödingr CHE COS'È LA VITA? ADELPHI", vita) > 0.8  # 0.71: its full title's share
    assert title_variants("Eureka! Centouno strane storie") == ["Eureka! Centouno strane storie"]  # one word: no title
    assert title_variants("HELP! I'm Living with a (Man) Boy")[1] == "HELP! I'm Living with a"  # past the one word
