"""The covers' local features kept beside the store (multimodal/cover_features.py): votes, sync, the folder."""

from __future__ import annotations

import io
import shutil
from dataclasses import replace
from pathlib import Path

import faiss
import numpy as np
import pytest
from conftest import FakeStore
from PIL import Image

from multimodal import cover_features
from multimodal.cover_features import CoverFeatureIndex, StoreCoverFeatures
from multimodal.keypoints import Keypoints, photo_keypoints
from multimodal.photo import scene_photo
from multimodal.records import BookRecord

NUMBERS = range(1, 13)


def cover_path(sample_catalog: Path, number: int) -> Path:
    return sample_catalog.parent / "covers" / f"sample-{number:03d}.png"


def books(sample_catalog: Path, numbers=NUMBERS, content_hash: str = "1") -> list[BookRecord]:
    return [
        BookRecord(
            book_id=f"b{n}", title=f"Book {n}", cover=str(cover_path(sample_catalog, n)), content_hash=content_hash
        )
        for n in numbers
    ]


def scene_of(sample_catalog: Path, number: int, background: str = "desk") -> Image.Image:
    """A simulated photo of one sample cover on a desk, or among two other catalog covers."""
    cover = Image.open(cover_path(sample_catalog, number)).convert("RGB")
    around = (number % 12 + 1, (number + 1) % 12 + 1)
    others = [Image.open(cover_path(sample_catalog, n)).convert("RGB") for n in around]
    return Image.open(io.BytesIO(scene_photo(cover, 3, others, background=background).jpeg))


def synced(store: FakeStore, folder: Path | None) -> StoreCoverFeatures:
    return StoreCoverFeatures(store.iter_records, store.generation, folder, recheck_seconds=0.0)


@pytest.mark.parametrize("number", [2, 7, 11])
def test_the_photographed_cover_gets_the_most_votes(sample_catalog: Path, number: int) -> None:
    features = synced(FakeStore(books(sample_catalog)), None)
    found = features.vote(photo_keypoints(scene_of(sample_catalog, number)), 5)
    assert found[0][0] == f"b{number}"


def test_among_other_covers_the_photographed_one_is_among_the_most_voted(sample_catalog: Path) -> None:
    """Covers lying around it have votes too (stage 2's cover_keypoints says which one is at the centre)."""
    features = synced(FakeStore(books(sample_catalog)), None)
    for number in NUMBERS:
        found = features.vote(photo_keypoints(scene_of(sample_catalog, number, "covers")), 3)
        assert f"b{number}" in [book_id for book_id, _ in found]


def test_a_cover_feature_votes_once_however_many_photo_features_it_is_nearest(sample_catalog: Path) -> None:
    """A cover whose few features are each the nearest of many of the photo's (a texture's corners) does not outvote
    a cover with more of the photo's features."""
    features = synced(FakeStore(books(sample_catalog, [3, 4])), None)
    features.warm()
    three, four = features.index.entry("b3").features, features.index.entry("b4").features
    repeated = np.repeat(three.descriptors[:5], 10, axis=0)  # five of b3's features, each ten times
    descriptors = np.vstack([repeated, four.descriptors[:20]])  # twenty of b4's, once each
    photo = Keypoints(np.zeros((len(descriptors), 2), np.float32), descriptors, (640, 480))
    assert features.vote(photo, 2) == [("b4", 20), ("b3", 5)]


def test_the_inverted_file_finds_what_the_exact_search_finds(sample_catalog, tmp_path, monkeypatch) -> None:
    photo = photo_keypoints(scene_of(sample_catalog, 4))
    exact = synced(FakeStore(books(sample_catalog)), None).vote(photo, 3)
    monkeypatch.setattr(cover_features, "EXACT_UP_TO", 100)
    monkeypatch.setattr(cover_features, "IVF_FEATURES_A_LIST", 400)
    with_lists = synced(FakeStore(books(sample_catalog)), tmp_path / "features")
    with_lists.warm()
    assert isinstance(with_lists.index._search[0], faiss.IndexBinaryIVF)
    found = with_lists.vote(photo, 3)
    assert found[0][0] == exact[0][0] and found[0][1] >= 0.9 * exact[0][1]  # a few features' lists not searched
    # the trained lists are kept in the folder: a reopened index searches the same lists
    reopened = CoverFeatureIndex(tmp_path / "features")
    assert reopened._lists is not None and reopened._lists.nlist == with_lists.index._lists.nlist
    assert reopened.vote(photo, 3) == found


def test_sync_featurises_changed_covers_and_drops_removed_books(sample_catalog: Path, tmp_path: Path) -> None:
    store = FakeStore(books(sample_catalog))
    features = synced(store, tmp_path / "features")
    assert features.sync().added == len(NUMBERS)
    photo = photo_keypoints(scene_of(sample_catalog, 5))
    assert features.vote(photo, 1)[0][0] == "b5"

    # b5's cover replaced by cover 9's file (a new content hash), b9 removed: cover 9's photo now finds b5
    store.put(replace(books(sample_catalog, [9], content_hash="2")[0], book_id="b5"))
    store.remove("b9")
    report = features.sync()
    assert (report.added, report.replaced, report.removed) == (0, 1, 1)
    assert features.vote(photo_keypoints(scene_of(sample_catalog, 9)), 1)[0][0] == "b5"
    assert "b9" not in features.index.hashes()


def test_the_features_are_kept_in_the_folder_and_not_computed_again(sample_catalog, tmp_path, monkeypatch) -> None:
    store = FakeStore(books(sample_catalog))
    synced(store, tmp_path / "features").sync()

    def no_reading(path):
        raise AssertionError(f"{path} read again")

    monkeypatch.setattr(cover_features, "read_cover_keypoints", no_reading)
    reopened = synced(store, tmp_path / "features")
    assert reopened.index.hashes() == {record.book_id: "1" for record in store.records.values()}
    assert reopened.sync().added == 0
    assert reopened.vote(photo_keypoints(scene_of(sample_catalog, 3)), 1)[0][0] == "b3"
    stored = reopened.index.entry("b3").features
    assert len(stored) > 50 and stored.descriptors.dtype == np.uint8


def test_a_cover_that_cannot_be_read_has_no_features_and_no_votes(sample_catalog: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    unreadable = [
        BookRecord(book_id="missing", title="M", cover=str(tmp_path / "missing.jpg"), content_hash="1"),
        BookRecord(book_id="broken", title="B", cover=str(broken), content_hash="1"),
        BookRecord(book_id="url", title="U", cover="https://example.org/cover.jpg", content_hash="1"),
        BookRecord(book_id="none", title="N", content_hash="1"),
    ]
    features = synced(FakeStore(unreadable + books(sample_catalog, [6])), tmp_path / "features")
    assert features.sync().added == 5
    assert [features.features(record) for record in unreadable] == [None] * 4
    assert [book_id for book_id, _ in features.vote(photo_keypoints(scene_of(sample_catalog, 6)), 5)] == ["b6"]


def test_a_file_left_half_written_is_featurised_again(sample_catalog: Path, tmp_path: Path) -> None:
    folder = tmp_path / "features"
    synced(FakeStore(books(sample_catalog, [1, 2])), folder).sync()
    (folder / cover_features.FILE).write_bytes(b"PK\x03\x04 truncated")
    reopened = synced(FakeStore(books(sample_catalog, [1, 2])), folder)
    assert len(reopened.index) == 0
    assert reopened.sync().added == 2


def test_a_book_the_index_has_not_reached_is_read_from_its_file(sample_catalog: Path, tmp_path: Path) -> None:
    features = synced(FakeStore(books(sample_catalog, [1])), None)
    newer = books(sample_catalog, [1], content_hash="2")[0]  # the store changed since the last sync
    copy = tmp_path / "copy.png"
    shutil.copy(cover_path(sample_catalog, 1), copy)
    assert len(features.features(replace(newer, cover=str(copy)))) > 50


def test_search_shortlists_the_books_with_most_votes(offline_folio, sample_catalog: Path) -> None:
    photo = scene_of(sample_catalog, 9)
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG")
    result = offline_folio.search(image=buffer.getvalue(), k=5)
    assert "feature_search" in result.timings_ms
    first = result.hits[0]
    assert first.book_id == "sample-009" and first.signals["cover_features"] == 1.0
    assert all(hit.signals.get("cover_features", 0.0) < 1.0 for hit in result.hits[1:])
