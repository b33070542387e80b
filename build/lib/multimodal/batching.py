"""Concurrent queries share model forwards: what arrives while a model is busy runs as one batch.

Eight readers searching at once on a 2-core machine would otherwise start eight forwards of the
same model at once, each with its own threads, all fighting over the two cores. A ``Batcher``
owns one model's forwards: a request waits while the model works on earlier ones, and as soon as
the model is free, every request that is waiting runs through it as one batch. A lone query is
never held back to wait for company: when the model is idle it runs at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from queue import Empty, Queue
from typing import Generic, TypeVar

Item = TypeVar("Item")
Output = TypeVar("Output")

IDLE_SECONDS = 5.0  # a worker thread with nothing to do for this long ends; the next request starts one


class Batcher(Generic[Item, Output]):
    """Runs ``run`` (a batch function: n items in, n outputs out) over concurrent requests together."""

    def __init__(self, run: Callable[[list[Item]], Sequence[Output]], name: str, max_batch: int = 64) -> None:
        self.run = run
        self.name = name
        self.max_batch = max_batch
        self._waiting: Queue[tuple[list[Item], Future[list[Output]]]] = Queue()
        self._lock = threading.Lock()
        self._worker_running = False

    def __call__(self, items: Sequence[Item]) -> list[Output]:
        if not items:
            return []
        future: Future[list[Output]] = Future()
        with self._lock:
            self._waiting.put((list(items), future))
            if not self._worker_running:
                self._worker_running = True
                threading.Thread(target=self._work, daemon=True, name=f"batcher: {self.name}").start()
        return future.result()

    def _next_requests(self) -> list[tuple[list[Item], Future[list[Output]]]]:
        """Every waiting request (up to ``max_batch`` items), or none after ``IDLE_SECONDS`` idle."""
        try:
            requests = [self._waiting.get(timeout=IDLE_SECONDS)]
        except Empty:
            return []
        size = len(requests[0][0])
        while size < self.max_batch:
            try:
                request = self._waiting.get_nowait()
            except Empty:
                break
            requests.append(request)
            size += len(request[0])
        return requests

    def _work(self) -> None:
        while True:
            requests = self._next_requests()
            if not requests:
                with self._lock:
                    if self._waiting.empty():  # nothing arrived while we gave up: stop
                        self._worker_running = False
                        return
                continue
            items = [item for request_items, _ in requests for item in request_items]
            try:
                outputs = list(self.run(items))
            except BaseException as error:  # every request of the batch gets the error
                for _, future in requests:
                    future.set_exception(error)
                continue
            start = 0
            for request_items, future in requests:
                future.set_result(outputs[start : start + len(request_items)])
                start += len(request_items)
