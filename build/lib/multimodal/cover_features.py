"""Every catalog cover's local features, kept beside the store: searched by votes, and read to verify a match.

A scene photo's cover may be found by no vector: it is a part of the frame, recoloured by the light and the
print, and the covers around it are parts too. Its local features survive all that (``multimodal.keypoints``).
This index holds the ORB features of every catalog cover, computed once per cover, and answers two questions:

- **which covers have most of the photo's features** (``vote``): each feature of the photo is looked up among
  all the covers' features (a binary nearest-neighbour search in faiss), and a close one (at most
  ``MATCH_BITS`` of its 256 bits differ) is a vote for its cover's book, each cover feature voting once. The
  books with most votes are the ``cover_features`` channel of stage 1 (``multimodal.signals``): the photographed
  cover reaches stage 2 even when no outline was found and no word was read, where ``cover_keypoints`` verifies it
  by a homography;
- **a book's cover features** (``features``), so stage 2 does not read and featurise covers in the query path.

The index is derived from the store (``multimodal.derived``): kept in a folder of the data dir and brought in step
with the store by content hash (a changed cover changes its book's hash). A cover that is not a readable local file
(a URL, a missing or broken file, a placeholder) has no features: it gets no votes, never an error.

Scale: 300 features a cover (a 32-byte descriptor and a point each), held twice in memory (by book, and in
faiss): about 25 MB for 1,000 covers, 2.4 GB for 100,000 (not measured at that size). Up to ``EXACT_UP_TO``
features the search is exact; beyond, faiss's inverted file (``IVF_*``) searches a few of its lists per feature
(``benchmarks/cover_votes.py``, docs/performance.md: the same recall on the three catalogs, far faster).
"""

from __future__ import annotations

import logging
import os
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from multimodal.derived import SyncedIndex
from multimodal.keypoints import Keypoints, cover_file_features, read_cover_keypoints
from multimodal.records import BookRecord

log = logging.getLogger(__name__)
# One photo's lookup is small: OpenMP's threads gain little on it and, busy-waiting, slow every other query's work
# on a loaded machine (measured at load 5: a median of 120 ms with 2 threads, 30 ms with one).
faiss.omp_set_num_threads(1)

# Part of the folder name: a change of the features (keypoints.COVER_HEIGHT, COVER_FEATURES) or of the file builds
# a new index.
FEATURES_VERSION = 2
FILE = "features.npz"
BITS = 256  # an ORB descriptor: 32 bytes
# A photo's feature and a cover's differing in at most this many bits are the same point. Chosen on the tuning
# split's scenes (seed 2, 50 a catalog): 56, 64 and 72 put the right book in the first 5 equally often (genre 0.96,
# Italian 0.98, romance 1.00), so the middle.
MATCH_BITS = 64
MIN_VOTES = 3  # fewer votes are chance: a book needs this many of the photo's features to be in the channel
EXACT_UP_TO = 50_000  # features searched exactly (about 170 covers); beyond, an inverted file
IVF_FEATURES_A_LIST = 256  # the inverted file has one list per this many features (at most IVF_MAX_LISTS) ...
IVF_MAX_LISTS = 4096
IVF_PROBES = 16  # ... and a photo's feature is looked up in this many lists
IVF_TRAINING_A_LIST = 40  # features sampled per list to train it (faiss's advice: at least 39)


@dataclass(frozen=True)
class _Entry:
    content_hash: str
    features: Keypoints | None  # None: no readable cover


class CoverFeatureIndex:
    """The covers' features by book, and a faiss index of all of them for voting; in memory or in a folder."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self.entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._search: tuple[faiss.IndexBinary, np.ndarray, list[str]] | None = None  # index, owners, book ids
        self._lists: faiss.IndexBinaryIVF | None = None  # the inverted file's trained lists, empty: reused on a change
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            self._load()

    # -- writing ---------------------------------------------------------------------------
    def apply_records(self, changed: list[BookRecord], removed: list[str]) -> bool:
        """Featurise the changed books' covers, drop the removed books, and save."""
        featurised = {record.book_id: _Entry(record.content_hash, featurise(record)) for record in changed}
        gone = set(removed)
        with self._lock:
            entries = {book_id: entry for book_id, entry in self.entries.items() if book_id not in gone}
            entries.update(featurised)
        self._install(entries)
        self._save()
        return True

    def _install(self, entries: dict[str, _Entry], saved: faiss.IndexBinary | None = None) -> None:
        """Make ``entries`` the index's books, searched with ``saved`` (the faiss index kept in the folder for them)
        or with a faiss index built for them."""
        ids = [book_id for book_id, entry in entries.items() if has_features(entry.features)]
        search = None
        if ids:
            counts = [len(entries[book_id].features.descriptors) for book_id in ids]
            owners = np.repeat(np.arange(len(ids), dtype=np.int32), counts)
            if saved is not None and saved.ntotal == len(owners):
                index = saved  # adding 300,000 features to the inverted file's lists takes seconds: not at every start
            else:
                index = binary_index(np.vstack([entries[book_id].features.descriptors for book_id in ids]), self._lists)
            if isinstance(index, faiss.IndexBinaryIVF):
                self._lists = empty_copy(index)
            search = (index, owners, ids)
        with self._lock:
            self.entries, self._search = entries, search

    # -- reading ---------------------------------------------------------------------------
    def hashes(self) -> dict[str, str]:
        with self._lock:
            return {book_id: entry.content_hash for book_id, entry in self.entries.items()}

    def __len__(self) -> int:
        return len(self.entries)

    def entry(self, book_id: str) -> _Entry | None:
        """A book's cover features as indexed, with the content hash they were computed for."""
        return self.entries.get(book_id)

    def vote(self, photo: Keypoints, n: int) -> list[tuple[str, int]]:
        """The n books whose covers have most of the photo's features (at least ``MIN_VOTES``), most first.

        A cover's feature that is the nearest of several of the photo's features votes once: a corner like many (a
        texture's, a flat print's) is the nearest of many of a scene's weaker corners, and its cover would gather
        their votes whatever the photo shows (the tests' scenes: one drawn cover was voted first for most photos)."""
        search = self._search
        if search is None or photo.descriptors is None or not len(photo):
            return []
        index, owners, ids = search
        distances, nearest = index.search(photo.descriptors, 1)
        close = (nearest[:, 0] >= 0) & (distances[:, 0] <= MATCH_BITS)
        voters = np.unique(nearest[close, 0])  # the covers' features that are some photo feature's nearest
        votes = np.bincount(owners[voters], minlength=len(ids))
        voted = np.flatnonzero(votes >= MIN_VOTES)  # at most the photo's features: few, whatever the catalog's size
        best = voted[np.argsort(-votes[voted], kind="stable")[:n]]
        return [(ids[i], int(votes[i])) for i in best]

    # -- the folder ------------------------------------------------------------------------
    def _save(self) -> None:
        if self.directory is None:
            return
        with self._lock:
            entries, search = dict(self.entries), self._search
        ids = list(entries)
        kept = [entries[book_id].features for book_id in ids]
        counts = np.array([len(found) if has_features(found) else -1 for found in kept], np.int32)  # -1: no cover
        with_features = [found for found in kept if has_features(found)]
        arrays = {
            "ids": np.array(ids, dtype=str),
            "hashes": np.array([entries[book_id].content_hash for book_id in ids], dtype=str),
            "counts": counts,
            "sizes": np.array([found.size if has_features(found) else (0, 0) for found in kept], np.int32),
            "points": np.vstack([found.points for found in with_features] or [np.zeros((0, 2), np.float32)]),
            "descriptors": np.vstack(
                [found.descriptors for found in with_features] or [np.zeros((0, BITS // 8), np.uint8)]
            ),
        }
        if search is not None:  # training and filling the inverted file's lists take seconds: kept, not redone
            arrays["index"] = faiss.serialize_index_binary(search[0])
        partial = self.directory / f"{FILE}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(partial, "wb") as file:
            np.savez(file, **arrays)
        os.replace(partial, self.directory / FILE)  # readers see the old file or the new one, never half of one

    def _load(self) -> None:
        path = self.directory / FILE
        if not path.exists():
            return
        try:
            with np.load(path) as saved:
                arrays = {name: saved[name] for name in saved.files}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:  # the next sync featurises them again
            log.warning("cover features at %s unreadable (%s): featurising the covers again", path, error)
            return
        entries: dict[str, _Entry] = {}
        start = 0
        for book_id, content_hash, count, size in zip(
            arrays["ids"], arrays["hashes"], arrays["counts"], arrays["sizes"], strict=True
        ):
            features = None
            if count >= 0:
                end = start + int(count)
                points, descriptors = arrays["points"][start:end], arrays["descriptors"][start:end]
                features, start = Keypoints(points, descriptors, (int(size[0]), int(size[1]))), end
            entries[str(book_id)] = _Entry(str(content_hash), features)
        self._install(entries, faiss.deserialize_index_binary(arrays["index"]) if "index" in arrays else None)


def featurise(record: BookRecord) -> Keypoints | None:
    return read_cover_keypoints(Path(record.cover)) if local(record) else None


def local(record: BookRecord) -> bool:
    return record.has_cover and "://" not in record.cover


def has_features(features: Keypoints | None) -> bool:
    return features is not None and features.descriptors is not None and len(features) > 0


def binary_index(descriptors: np.ndarray, lists: faiss.IndexBinaryIVF | None = None) -> faiss.IndexBinary:
    """A faiss index of binary descriptors: exact up to ``EXACT_UP_TO`` of them, else an inverted file (its lists
    trained on a sample, or ``lists`` already trained when they suit this many descriptors)."""
    if len(descriptors) <= EXACT_UP_TO:
        index = faiss.IndexBinaryFlat(BITS)
    else:
        wanted = min(IVF_MAX_LISTS, len(descriptors) // IVF_FEATURES_A_LIST)
        if lists is not None and wanted / 2 <= lists.nlist <= wanted * 2:
            index = faiss.clone_binary_index(lists)
        else:
            index = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(BITS), BITS, wanted)
            sample_size = min(len(descriptors), wanted * IVF_TRAINING_A_LIST)
            sample = np.random.default_rng(0).choice(len(descriptors), sample_size, replace=False)
            index.train(descriptors[np.sort(sample)])
        index.nprobe = IVF_PROBES
    index.add(descriptors)
    return index


def empty_copy(index: faiss.IndexBinaryIVF) -> faiss.IndexBinaryIVF:
    """The inverted file's trained lists without its descriptors."""
    copy = faiss.clone_binary_index(index)
    copy.reset()
    return copy


class StoreCoverFeatures(SyncedIndex[CoverFeatureIndex]):
    """The covers' features of a store's books, kept in step with the store by content hash."""

    name = "cover features"
    folder = "cover-features"
    version = FEATURES_VERSION
    # Featurising is about 2 ms a cover: a store of up to 5,000 books is featurised in line when it opens (once:
    # the features are kept in the data dir), a larger one in the background while its photos get no votes.
    IN_LINE_FIRST_SYNC_BOOKS = 5_000

    def open_index(self, directory: Path | None) -> CoverFeatureIndex:
        return CoverFeatureIndex(directory)

    def vote(self, photo: Keypoints, n: int) -> list[tuple[str, int]]:
        return self.current().vote(photo, n)

    def features(self, record: BookRecord) -> Keypoints | None:
        """A book's cover features: as indexed, else (a book the index has not reached yet) read from its file."""
        indexed = self.index.entry(record.book_id)
        if indexed is not None and indexed.content_hash == record.content_hash:
            return indexed.features
        return cover_file_features(record)
