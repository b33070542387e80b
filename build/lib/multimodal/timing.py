"""Time spent per named stage: what search reports per query and ingest per run."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager


class Timer:
    """``with timer.stage("encode"): ...`` adds the time spent to that stage (repeats are summed)."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()
        self.started = time.perf_counter()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start

    @property
    def ms(self) -> dict[str, float]:
        """Each stage in milliseconds, and ``total``: the time since the timer was made."""
        return {name: value * 1000 for name, value in self.seconds.items()} | {
            "total": (time.perf_counter() - self.started) * 1000
        }
