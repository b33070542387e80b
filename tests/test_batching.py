"""Concurrent queries share model forwards, and get exactly what they would get alone."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from multimodal import Folio
from multimodal.batching import Batcher


class SlowDoubler:
    """A stand-in model: doubles numbers, takes 50 ms per forward, remembers each batch."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(items)
        time.sleep(0.05)
        if any(item < 0 for item in items):
            raise ValueError("negative input")
        return [2 * item for item in items]


def test_requests_that_arrive_together_share_a_forward_and_get_their_own_outputs():
    model = SlowDoubler()
    batcher = Batcher(model, "doubler")
    start = threading.Barrier(8)

    def request(n: int) -> list[int]:
        start.wait()
        return batcher([n, 10 * n])

    with ThreadPoolExecutor(8) as pool:
        outputs = list(pool.map(request, range(1, 9)))
    assert outputs == [[2 * n, 20 * n] for n in range(1, 9)]
    assert len(model.batches) < 8  # fewer forwards than requests
    assert max(len(batch) for batch in model.batches) > 2  # some forward ran several requests


def test_a_lone_request_runs_at_once():
    model = SlowDoubler()
    batcher = Batcher(model, "doubler")
    started = time.perf_counter()
    assert batcher([3]) == [6]
    assert time.perf_counter() - started < 0.5  # one 50 ms forward, no waiting for company
    assert model.batches == [[3]]


def test_an_error_reaches_the_requests_of_its_batch_and_the_batcher_goes_on():
    batcher = Batcher(SlowDoubler(), "doubler")
    with pytest.raises(ValueError, match="negative input"):
        batcher([-1])
    assert batcher([4]) == [8]


def test_concurrent_searches_return_what_each_returns_alone(clip_folio: Folio):
    queries = ["lighthouse", "a map of love", "winter orchard", "dragons", "murder at the manor", "space"]
    alone = {query: clip_folio.search(query, k=10) for query in queries}
    barrier = threading.Barrier(len(queries))

    def search(query: str):
        barrier.wait()
        return clip_folio.search(query, k=10)

    with ThreadPoolExecutor(len(queries)) as pool:
        together = dict(zip(queries, pool.map(search, queries), strict=True))
    for query in queries:
        assert [hit.book_id for hit in together[query].hits] == [hit.book_id for hit in alone[query].hits], query
        for shared, single in zip(together[query].hits, alone[query].hits, strict=True):
            assert shared.score == pytest.approx(single.score, abs=1e-3)
