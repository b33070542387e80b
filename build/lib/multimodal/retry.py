"""Calling a store that may not answer: retried with back-off (tenacity), then ``StoreUnavailable``.

Only connection-type errors are retried (a Chroma server refused, reset or timed out); every write
Folio makes is an idempotent upsert or delete, so a retried call cannot duplicate a book.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception, stop_after_delay, wait_exponential

from multimodal.errors import StoreUnavailable
from multimodal.settings import Settings

T = TypeVar("T")

log = logging.getLogger(__name__)

# What "the server did not answer" looks like: httpx transport failures (refused, reset, timed out,
# closed mid-response) and OS-level connection errors, also when a client wraps them in another error
# (chromadb's HttpClient turns a refused connection into a ValueError).
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    ConnectionError,
)


def is_connection_error(error: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, CONNECTION_ERRORS):
            return True
        seen.add(id(current))
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return False


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying a store that does not answer: waits double from ``first_wait`` to ``max_wait``."""

    seconds: float = 5.0
    first_wait: float = 0.25
    max_wait: float = 2.0

    @classmethod
    def for_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(seconds=settings.store_retry_seconds)


def retrying(call: Callable[..., T], *args: Any, policy: RetryPolicy, location: str, what: str, **kwargs: Any) -> T:
    """``call(*args, **kwargs)``, retried with back-off (tenacity) while the store is unreachable."""

    def warn(state: RetryCallState) -> None:
        level = logging.WARNING if state.attempt_number == 1 else logging.DEBUG
        error = state.outcome.exception() if state.outcome else None
        log.log(
            level,
            "store %s did not answer while %s (%s); retrying for up to %gs",
            location,
            what,
            error,
            policy.seconds,
        )

    retryer = Retrying(
        retry=retry_if_exception(is_connection_error),
        wait=wait_exponential(multiplier=policy.first_wait, min=policy.first_wait, max=policy.max_wait),
        stop=stop_after_delay(policy.seconds),
        before_sleep=warn,
    )
    try:
        return retryer(call, *args, **kwargs)
    except RetryError as failure:
        error = failure.last_attempt.exception()
        raise StoreUnavailable(
            f"store unreachable: {location} did not answer while {what} "
            f"({type(error).__name__}: {error}); tried {failure.last_attempt.attempt_number} times "
            f"over {policy.seconds:g}s"
        ) from error
