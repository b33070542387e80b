"""Errors Folio raises on purpose: each carries a message a person can act on."""

from __future__ import annotations


class FolioError(Exception):
    """Base class: the message is meant for the user, not a traceback."""


class WeightsUnavailable(FolioError):
    """Model weights could not be loaded (no network, no cache, no local file)."""

    def __init__(self, what: str, cause: str, how: str) -> None:
        self.what = what
        self.cause = cause
        self.how = how
        super().__init__(f"Could not load {what}: {cause}\n{how}")


class StoreMismatch(FolioError):
    """The store was built by another profile or model than the one in use."""


class BadImage(FolioError):
    """An image could not be used (not an image, truncated, too large, blank ...)."""


class StoreUnavailable(FolioError):
    """The store (a Chroma server) did not answer, even after retrying for a while."""


class BookNotFound(FolioError):
    """No book with this id is in the store."""
