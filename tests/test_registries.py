"""The library's floors: profiles and signals as registries, one composition root, the facade.

A new profile is one JSON file; a new stage-2 signal is one registration plus a weight; every
caller opens Folio through ``multimodal.service``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import SAMPLE_CATALOG
from pydantic import ValidationError

import multimodal.encoders
import multimodal.service
import multimodal.store
from ingest.__main__ import main as ingest_main
from multimodal import (
    BookNotFound,
    Folio,
    FolioError,
    ProfileError,
    SearchFilters,
    Settings,
    SignalError,
    list_profiles,
    load_profile,
    open_ingest,
    open_search,
    pair_signal,
)
from multimodal.models import Models, create_models
from multimodal.signals import SIGNALS, matched_groups, unregister

PROFILES = Path(__file__).resolve().parent.parent / "multimodal" / "profiles"


def write_profile(folder: Path, name: str, **changes: object) -> Path:
    """A copy of the offline profile under another name, with ``changes``."""
    data = json.loads((PROFILES / "offline.json").read_text()) | {"name": name} | changes
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(data))
    return path


def small_catalog(folder: Path, rows: int = 8) -> Path:
    with SAMPLE_CATALOG.open() as stream:
        reader = csv.DictReader(stream)
        chosen = [next(reader) for _ in range(rows)]
    for row in chosen:
        row["cover"] = str(SAMPLE_CATALOG.parent / row["cover"])
    path = folder / "catalog.csv"
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, list(chosen[0]))
        writer.writeheader()
        writer.writerows(chosen)
    return path


@pytest.fixture
def toy_signal():
    """A stage-2 signal registered by the test: 1 for a book whose title has "lighthouse", else 0."""

    @pair_signal("toy_lighthouse", group="title/author", compares="whether the title names a lighthouse")
    def toy(query, book):
        return 1.0 if "lighthouse" in book.title.lower() else 0.0

    yield "toy_lighthouse"
    unregister("toy_lighthouse")


# -- profiles ----------------------------------------------------------------------------------
def test_a_profile_file_is_listed_and_accepted_by_settings(tmp_path, monkeypatch):
    write_profile(tmp_path / "mine", "mini")
    assert "mini" not in list_profiles()
    monkeypatch.setenv("FOLIO_PROFILE_PATHS", str(tmp_path / "mine"))
    assert "mini" in list_profiles() and {"clip", "offline"} <= set(list_profiles())
    assert Settings(profile="mini").profile == "mini"
    assert load_profile("mini").text_encoder.kind == "minilm"
    with pytest.raises(ValidationError, match="known profiles: auto, clip, mini, offline"):
        Settings(profile="nope")


def test_a_profile_file_is_accepted_by_the_ingest_command(sample_catalog, tmp_path, monkeypatch, capsys):
    profile = write_profile(tmp_path, "mini", query_ocr=False)
    monkeypatch.setenv("FOLIO_PROFILE_PATHS", str(profile))  # a file, not a folder
    catalog = small_catalog(tmp_path, rows=3)
    argv = [
        str(catalog),
        "--profile",
        "mini",
        "--data-dir",
        str(tmp_path / "store"),
        "--no-progress",
        "--allow-outside",
    ]
    assert ingest_main(argv) == 0
    assert "profile mini" in capsys.readouterr().err
    assert multimodal.store.recorded_profile(Settings(data_dir=tmp_path / "store")) == "mini"
    assert ingest_main([*argv[:2], "nope", *argv[3:], "--allow-outside"]) == 2
    assert "unknown profile 'nope'" in capsys.readouterr().err
    # another profile's vectors are refused, unless --rebuild drops them first
    assert ingest_main([*argv[:2], "offline", *argv[3:], "--allow-outside"]) == 2
    assert "was built by profile 'mini'" in capsys.readouterr().err
    assert ingest_main([*argv[:2], "offline", *argv[3:], "--allow-outside", "--rebuild"]) == 0
    assert multimodal.store.recorded_profile(Settings(data_dir=tmp_path / "store")) == "offline"


def test_a_profile_names_its_models_and_settings_override_them(monkeypatch):
    clip = load_profile("clip")
    assert (clip.text_encoder.model, clip.cross_encoder) == ("ViT-B-32", "cross-encoder/ms-marco-MiniLM-L-6-v2")
    assert clip.shared_space and not load_profile("offline").shared_space
    built = []

    class RecordingClip:
        identity = "recorded"

        def __init__(self, model: str, pretrained: str, *rest: object) -> None:
            built.append((model, pretrained))

    monkeypatch.setattr(multimodal.encoders, "ClipEncoder", RecordingClip)
    models = create_models(clip, Settings(clip_model="folio-tiny-clip"), for_search=False)
    assert built == [("folio-tiny-clip", "laion2b_s34b_b79k")]  # the override, the profile's weights
    assert models.text_encoder is models.image_encoder  # one CLIP embeds both
    assert models.cross_scorer is None  # ingest: no query-time models


def test_a_bad_profile_is_refused_with_its_reason(tmp_path):
    write_profile(tmp_path, "typo", stage2_weights={"title_macth": 1.0})
    with pytest.raises(SignalError, match="unknown signal 'title_macth'"):
        load_profile("typo", [tmp_path])
    write_profile(tmp_path, "typo", stage1_weights={"title_match": 1.0})
    with pytest.raises(SignalError, match="stage-2 signal"):
        load_profile("typo", [tmp_path])
    write_profile(tmp_path, "typo", text_encoder={"kind": "minilm", "colour": "blue"})
    with pytest.raises(ProfileError, match="colour"):
        load_profile("typo", [tmp_path])
    write_profile(tmp_path, "typo", text_encoder="word2vec")
    with pytest.raises(ProfileError, match="unknown encoder kind 'word2vec'"):
        create_models(load_profile("typo", [tmp_path]), Settings(), for_search=False)


# -- signals -----------------------------------------------------------------------------------
def test_a_registered_signal_weighted_by_no_profile_is_an_error(toy_signal):
    with pytest.raises(SignalError, match="toy_lighthouse registered but weighted by no profile"):
        load_profile("offline")


def test_a_new_signal_is_one_registration_plus_a_weight(toy_signal, offline_folio, tmp_path, monkeypatch):
    weights = json.loads((PROFILES / "offline.json").read_text())["stage2_weights"] | {toy_signal: 1.0}
    write_profile(tmp_path / "profiles", "toy", stage2_weights=weights)
    monkeypatch.setenv("FOLIO_PROFILE_PATHS", str(tmp_path / "profiles"))
    encoders = offline_folio.models
    models = Models(load_profile("toy"), encoders.text_encoder, encoders.image_encoder, None, None)
    settings = Settings(profile="toy", data_dir=tmp_path / "store")
    backend = open_ingest(settings, models=models)
    from ingest.job import IngestJob, IngestOptions

    options = IngestOptions(small_catalog(tmp_path), progress=False, allow_outside=True, cache_dir=tmp_path / "cache")
    assert IngestJob(backend.models, backend.store, options).run().ingested == 8
    folio = open_search(settings, models=models)
    hits = folio.search(text="honey under the lighthouse", min_score=0).hits
    assert hits[0].title == "Honey Under the Lighthouse"
    assert hits[0].signals[toy_signal] == 1.0 and all(hit.signals.get(toy_signal) == 0.0 for hit in hits[1:])
    assert SIGNALS[toy_signal].compares == "whether the title names a lighthouse"
    assert "title/author" in matched_groups({toy_signal: 1.0})
    # without its weight the signal is not computed at all
    assert toy_signal not in offline_folio.search(text="honey under the lighthouse").hits[0].signals


# -- the composition root and the facade -------------------------------------------------------
def test_opening_a_missing_store_names_the_data_dir(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FolioError, match=f"no catalog at {missing}"):
        Folio.open(Settings(profile="offline", data_dir=missing))
    assert not missing.exists()  # nothing was created by looking


def test_auto_reads_the_recorded_profile_through_the_one_client(offline_folio, monkeypatch):
    opened = []
    real = multimodal.store.make_client

    def counting(*args, **kwargs):
        opened.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(multimodal.store, "make_client", counting)
    monkeypatch.setattr(multimodal.service, "make_client", counting)
    monkeypatch.setattr(multimodal.service, "create_models", lambda profile, *_, **__: offline_folio.models)
    folio = open_search(offline_folio.settings.model_copy(update={"profile": "auto"}))
    assert folio.profile == "offline" and len(opened) == 1


def test_filters_match_genre_and_author_whatever_the_case(offline_folio):
    exact = offline_folio.search(text="a love letter", k=20, filters=SearchFilters(genre="romance"))
    shouted = offline_folio.search(text="a love letter", k=20, filters=SearchFilters(genre=" ROMANCE "))
    assert exact.hits and [hit.book_id for hit in shouted.hits] == [hit.book_id for hit in exact.hits]
    by_author = offline_folio.search(text="a map", min_score=0, filters=SearchFilters(author="imre CASTELLANE"))
    assert [hit.title for hit in by_author.hits] == ["The Cartographer's Valentine"]


def test_the_facade_pages_the_catalog_and_reads_books(offline_folio):
    first, second = offline_folio.records(0, 10), offline_folio.records(10, 10)
    assert len(first) == len(second) == 10 and not {r.book_id for r in first} & {r.book_id for r in second}
    horror = offline_folio.records(0, 100, SearchFilters(genre="Horror"))
    assert horror and {record.genre for record in horror} == {"horror"}
    assert offline_folio.book("sample-002").title == "The Cartographer's Valentine"
    facets = offline_folio.facets()
    assert facets.books == offline_folio.count() == 64 and "romance" in facets.genres


def test_unknown_books_raise_book_not_found(offline_folio):
    with pytest.raises(BookNotFound, match="no book with id 'no-such-book'"):
        offline_folio.book("no-such-book")
    with pytest.raises(BookNotFound):
        offline_folio.more_like("no-such-book")
    with pytest.raises(KeyError):  # still a KeyError for code that catches that
        offline_folio.more_like("no-such-book")
