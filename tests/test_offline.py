"""Folio without a model hub: the auto fallback, the cover-text (OCR) channel, the offline profile."""

from __future__ import annotations

import csv
import logging

import pytest
from conftest import SAMPLE_CATALOG
from PIL import Image

import multimodal.devices
from multimodal import Folio, Settings
from multimodal.photo import phone_photo
from multimodal.service import load_models

COVERS = SAMPLE_CATALOG.parent / "covers"


@pytest.fixture
def no_hub(monkeypatch, tmp_path):
    """No model hub and an empty hub cache, whatever the machine running the tests has."""
    import huggingface_hub.constants

    monkeypatch.setattr(multimodal.devices, "hub_reachable", lambda timeout=3.0: False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def test_auto_falls_back_to_offline_and_says_why(no_hub, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    loaded = load_models(Settings(profile="auto", data_dir=tmp_path), for_search=False)
    assert loaded.models.profile.name == "offline"
    assert "Running the offline profile" in loaded.notice and "CLIP weights ViT-B-32" in loaded.notice
    cause = loaded.notice.split("could not be loaded (", 1)[1].split("). Search uses", 1)[0]
    assert len(cause) <= 200 and (cause.endswith(" …") or cause.endswith(cause.split()[-1]))
    noisy = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(noisy) == 1 and noisy[0].name == "multimodal.service"  # one short line; open_clip's ERROR is gone
    assert len(noisy[0].getMessage()) < 120


def test_auto_uses_the_profile_that_built_the_store(offline_folio):
    loaded = load_models(offline_folio.settings.model_copy(update={"profile": "auto"}), for_search=False)
    assert loaded.models.profile.name == "offline" and loaded.notice == ""


def test_ocr_reads_the_title_on_a_sample_cover(offline_folio):
    rows = list(csv.DictReader(SAMPLE_CATALOG.open()))
    row = rows[4]
    text = offline_folio.models.cover_reader.read(Image.open(COVERS / f"{row['id']}.png").convert("RGB"))
    assert row["title"].upper().split()[-1] in text.upper()
    assert row["author"].split()[-1].upper() in text.upper()


@pytest.mark.parametrize("book_id", ["sample-003", "sample-019", "sample-036", "sample-050", "sample-061"])
def test_phone_photo_of_a_sample_cover_finds_its_book(offline_folio: Folio, book_id: str):
    photo = phone_photo(Image.open(COVERS / f"{book_id}.png").convert("RGB"), seed=7)
    result = offline_folio.search(image=photo)
    assert result.hits[0].book_id == book_id
    assert result.cover_text and result.hits[0].signals["ocr_title_match"] > 0.8


def test_offline_text_search_finds_a_book_from_memory(offline_folio: Folio):
    result = offline_folio.search(text="cartographers valentin castellane")  # a typo, a dropped word
    assert result.hits[0].title == "The Cartographer's Valentine"


def test_offline_profile_refuses_a_clip_store(clip_folio):
    from multimodal import StoreMismatch

    with pytest.raises(StoreMismatch, match="--profile clip"):
        Folio.open(clip_folio.settings.model_copy(update={"profile": "offline"}))


def test_relevance_tells_a_match_from_nonsense(offline_folio: Folio):
    match = offline_folio.search(text="The Cartographer's Valentine Imre Castellane", min_score=0).hits[0]
    nonsense = offline_folio.search(text="quantum zeppelin carburettor", min_score=0).hits[0]
    assert match.relevance > 0.6 > nonsense.relevance
    assert offline_folio.search(text="quantum zeppelin carburettor", min_score=0.6).hits == []
