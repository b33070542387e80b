"""The one obvious entry point: ``Folio.open()`` then ``folio.search(text=..., image=...)``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from multimodal.errors import BookNotFound, WeightsUnavailable
from multimodal.models import Models, create_models
from multimodal.profiles import load_profile
from multimodal.search import Searcher, SearchFilters, SearchResult
from multimodal.settings import Settings
from multimodal.store import BookRecord, BookStore, StoreInfo, recorded_profile

log = logging.getLogger(__name__)


@dataclass
class LoadedModels:
    models: Models
    notice: str = ""  # why the profile in use is not the one asked for (shown as a banner)


def load_models(settings: Settings, for_search: bool = True) -> LoadedModels:
    """Build the models of the configured profile.

    ``auto`` uses the profile that built the existing store; with no store it tries ``clip`` and
    falls back to ``offline`` when CLIP or cross-encoder weights cannot be had.
    """
    if settings.profile != "auto":
        return LoadedModels(create_models(load_profile(settings.profile), settings, for_search))
    recorded = recorded_profile(settings)
    if recorded:
        return LoadedModels(create_models(load_profile(recorded), settings, for_search))
    try:
        return LoadedModels(create_models(load_profile("clip"), settings, for_search))
    except WeightsUnavailable as error:
        notice = (
            f"Running the offline profile: {error.what} could not be loaded ({error.cause.splitlines()[0][:200]}). "
            "Search uses cover text (OCR), MiniLM text embeddings and perceptual cover fingerprints. "
            "To use CLIP, provide its weights: a local checkpoint file (FOLIO_CLIP_PRETRAINED=/path/to/file) "
            "or a pre-filled Hugging Face cache (HF_HOME, HF_HUB_OFFLINE=1); then re-ingest with --rebuild "
            "(README: Offline use)."
        )
        log.warning(notice)
        return LoadedModels(create_models(load_profile("offline"), settings, for_search), notice)


class Folio:
    """Models, store and searcher, built once and shared by every query."""

    def __init__(self, settings: Settings, loaded: LoadedModels) -> None:
        self.settings = settings
        self.models = loaded.models
        self.notice = loaded.notice
        self.store = BookStore(settings, self.models.profile.name, self.models.identity)
        self.searcher = Searcher(self.models, self.store, settings)
        self.searcher.titles.warm()  # read every title now, not on the first query

    @classmethod
    def open(cls, settings: Settings | None = None, **overrides: object) -> Folio:
        settings = (settings or Settings()).model_copy(update=overrides) if overrides else (settings or Settings())
        return cls(settings, load_models(settings))

    @property
    def profile(self) -> str:
        return self.models.profile.name

    def search(
        self,
        text: str = "",
        image=None,
        k: int | None = None,
        cross_score: bool = True,
        min_score: float | None = None,
        filters: SearchFilters | None = None,
    ) -> SearchResult:
        """Search by text, by a cover image (path, bytes or PIL image), or both."""
        return self.searcher.search(text, image, k, cross_score, min_score, filters)

    def more_like(
        self,
        book_id: str,
        by: str = "cover",
        k: int | None = None,
        cross_score: bool = True,
        min_score: float | None = None,
        filters: SearchFilters | None = None,
    ) -> SearchResult:
        """Books like a catalog book: ``by="cover"`` or ``by="description"``."""
        return self.searcher.more_like(book_id, by, k, cross_score, min_score, filters)

    def info(self) -> StoreInfo:
        return self.store.info()

    def count(self) -> int:
        """How many books the store holds."""
        return self.store.count()

    def records(self) -> Iterator[BookRecord]:
        """Every stored book's record, in pages."""
        return self.store.iter_records()

    def book(self, book_id: str) -> BookRecord:
        """One stored book's record; raises BookNotFound."""
        found = self.store.fetch([book_id], with_vectors=False).get(book_id)
        if found is None:
            raise BookNotFound(f"no book with id {book_id!r}")
        return found.record
