"""The facade: what callers (the app, the REST API, evaluation, benchmarks) ask of Folio.

``Folio.open()`` (or ``multimodal.service.open_search``) builds one; then ``folio.search(text=...,
image=...)`` or ``folio.search(SearchRequest(...))``, ``folio.more_like(book_id, by="cover")``,
``folio.book(book_id)``, ``folio.records(offset, limit, filters)``, ``folio.count()``,
``folio.facets()``, ``folio.info()``. Callers never reach the store or the searcher behind it.
"""

from __future__ import annotations

import itertools

from multimodal.confidence import assess
from multimodal.errors import BookNotFound
from multimodal.images import ImageSource
from multimodal.models import Models
from multimodal.records import BookRecord, CatalogFacets, SearchFilters, SearchRequest, SearchResult
from multimodal.search import Searcher
from multimodal.settings import Settings
from multimodal.store import BookStore, StoreInfo

READ_PAGE = 1000  # books per store read when reading the whole catalog


class Folio:
    """Models, store and searcher, built once (by ``multimodal.service``) and shared by every query."""

    def __init__(self, settings: Settings, models: Models, store: BookStore, notice: str = "") -> None:
        self.settings = settings
        self.models = models
        self.notice = notice  # why the profile in use is not the one asked for (a banner), or ""
        self.store = store
        self.searcher = Searcher(models, store, settings)
        self.searcher.fulltext.warm()  # bring the full-text index in step with the store now, not on the first query
        if self.searcher.uses_cover_features:
            self.searcher.cover_features.warm()  # and the covers' features

    @classmethod
    def open(cls, settings: Settings | None = None, *, create: bool = False, **overrides: object) -> Folio:
        """``multimodal.service.open_search`` with settings (default: FOLIO_* variables) and overrides,
        validated like the settings themselves (``data_dir="store"`` is a path; a bad value is an error)."""
        from multimodal.service import open_search

        settings = settings or Settings()
        if overrides:
            settings = Settings.model_validate(settings.model_dump() | overrides)
        return open_search(settings, create=create)

    @property
    def profile(self) -> str:
        return self.models.profile.name

    def search(
        self,
        request: SearchRequest | str = "",
        image: ImageSource | None = None,
        k: int | None = None,
        cross_score: bool = True,
        min_score: float | None = None,
        filters: SearchFilters | None = None,
        *,
        text: str = "",
    ) -> SearchResult:
        """Search by words, a cover image (path, bytes or PIL image), or both.

        ``folio.search(SearchRequest(text=..., image=...))`` or ``folio.search(text=..., image=...)``.
        """
        if not isinstance(request, SearchRequest):
            request = SearchRequest(text or request, image, k, cross_score, min_score, filters or SearchFilters())
        return assess(self.searcher.search(request))

    def more_like(
        self,
        book_id: str,
        by: str = "cover",
        k: int | None = None,
        cross_score: bool = True,
        min_score: float | None = None,
        filters: SearchFilters | None = None,
    ) -> SearchResult:
        """Books like a catalog book: ``by="cover"`` or ``by="description"``.

        Raises BookNotFound for an unknown id, NoCover when ``by="cover"`` and the book has none.
        """
        request = SearchRequest(k=k, cross_score=cross_score, min_score=min_score, filters=filters or SearchFilters())
        return assess(self.searcher.more_like(book_id, by, request))

    def book(self, book_id: str) -> BookRecord:
        """The stored book of this id; BookNotFound when there is none."""
        found = self.store.fetch([book_id], with_vectors=False).get(book_id)
        if found is None:
            raise BookNotFound(book_id)
        return found.record

    def books(self, book_ids: list[str]) -> dict[str, BookRecord]:
        """The stored books among ``book_ids`` (unknown ids are left out)."""
        return {book_id: book.record for book_id, book in self.store.fetch(book_ids, with_vectors=False).items()}

    def records(
        self, offset: int = 0, limit: int | None = None, filters: SearchFilters | None = None
    ) -> list[BookRecord]:
        """A page of the catalog in the store's order (a browsable catalog); ``limit=None``: all from ``offset``."""
        if limit is not None:
            return self.store.page(offset, limit, filters)
        if not filters:  # the whole catalog: the store's own walk, in its largest pages
            return list(itertools.islice(self.store.iter_records(), offset, None))
        found: list[BookRecord] = []
        while len(page := self.store.page(offset + len(found), READ_PAGE, filters)) == READ_PAGE:
            found += page
        return found + page

    def count(self) -> int:
        return self.store.count()

    def facets(self) -> CatalogFacets:
        """The catalog's size, genres and years (one pass over its records)."""
        records = list(self.store.iter_records())
        years = [record.year for record in records if record.year is not None]
        return CatalogFacets(
            books=len(records),
            genres=sorted({record.genre for record in records if record.genre}),
            year_min=min(years, default=None),
            year_max=max(years, default=None),
        )

    def info(self) -> StoreInfo:
        return self.store.info()

    def ping(self, deadline: float = 2.0) -> None:
        """Raise StoreUnavailable unless the store answers within ``deadline`` seconds (for health checks)."""
        self.store.ping(deadline)

    @property
    def location(self) -> str:
        """Where the store is (a folder or a Chroma server), for messages and reports."""
        return self.store.location
