"""The writer: encoded books → the store; books no longer in the catalog → pruned, within limits.

Writes go through :meth:`BookStore.write` (cover vectors first, then the passages of long
descriptions, the text record with the content hash last; a rewritten book is replaced, not merged,
its old passages deleted). Pruning is guarded: it never acts on a
catalog that yielded no valid row (a header-only file, a wrong delimiter, a mistyped ``--map``),
and it refuses to remove more than ``limit`` of the store unless forced. A refusal says why and
what would have gone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ingest.mapper import EncodedBook
from ingest.readers import Rejection
from multimodal.store import BookStore

PRUNE_LIMIT = 0.2  # the largest share of the store a prune removes without --force


@dataclass
class PrunePlan:
    """What a prune would remove, and whether it may."""

    gone: list[str] = field(default_factory=list)
    stored: int = 0
    refusal: str = ""  # why it may not (empty: it may)

    @property
    def share(self) -> float:
        return len(self.gone) / self.stored if self.stored else 0.0

    def listing(self, shown: int = 20) -> str:
        more = f" … and {len(self.gone) - shown} more" if len(self.gone) > shown else ""
        return ", ".join(self.gone[:shown]) + more


class BookWriter:
    def __init__(self, store: BookStore) -> None:
        self.store = store

    def write(self, books: list[EncodedBook]) -> None:
        with_passages = [book for book in books if book.passages]
        self.store.write(
            [book.record for book in books],
            np.stack([book.text_vector for book in books]),
            [book.cover_vector for book in books],
            [passage for book in with_passages for passage in book.passages],
            np.concatenate([book.passage_vectors for book in with_passages]) if with_passages else None,
        )

    def plan_prune(self, catalog_ids: set[str], valid_rows: int, limit: float, force: bool) -> PrunePlan:
        """The books the catalog no longer names; refused on an empty catalog or beyond ``limit`` unless ``force``."""
        stored = self.store.all_ids()
        plan = PrunePlan(sorted(set(stored) - catalog_ids), len(stored))
        if not plan.gone:
            return plan
        if valid_rows == 0:
            plan.refusal = (
                "the catalog yielded no valid rows (empty, a wrong delimiter or --map?); pruning it would empty "
                "the store"
            )
        elif plan.share > limit and not force:
            plan.refusal = (
                f"pruning would remove {len(plan.gone)} of {plan.stored} books ({plan.share:.0%}), more than "
                f"the limit of {limit:.0%} (--prune-limit); check the catalog, or add --force"
            )
        return plan

    def prune(self, plan: PrunePlan) -> int:
        if plan.refusal:
            return 0
        self.store.delete(plan.gone)
        return len(plan.gone)

    def finish(self) -> None:
        """Record the time of this ingest in the store."""
        self.store.touch()

    @staticmethod
    def write_rejects(path: Path, rejected: list[Rejection]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as stream:
            for rejection in rejected:
                stream.write(json.dumps(rejection.__dict__) + "\n")
