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


class BookNotFound(FolioError, KeyError):
    """No book with this id is in the store (a ``KeyError`` too, for code that catches that)."""

    def __init__(self, book_id: str) -> None:
        self.book_id = book_id
        super().__init__(f"no book with id {book_id!r}")

    def __str__(self) -> str:  # KeyError would quote the whole message
        return self.args[0]


class NoCover(FolioError, ValueError):
    """The book has no usable cover to compare (a ``ValueError`` too, for code that catches that)."""

    def __init__(self, book_id: str) -> None:
        self.book_id = book_id
        super().__init__(f"book {book_id!r} has no usable cover")


class ProfileError(FolioError):
    """A model profile (a JSON file) is unknown or does not describe a profile Folio can run."""


class SignalError(FolioError):
    """A profile weights a signal nobody registered, or a registered signal is weighted by no profile."""
