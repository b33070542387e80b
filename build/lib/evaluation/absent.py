"""Not-in-catalog queries: what readers ask for books the library does not have.

With ``--absent SHARE`` (e.g. 0.1) the evaluation ingests the catalog without that share of its
books (chosen by a hash of the id, the same in every run) and remembers which; the ``absent`` task
then asks for them as readers would — known-item words, blurb words and a phone photo of the
cover — against the store that lacks them (only those whose work — title and author — is not in the store
under another record: ``not_in_store``). No answer is right, so recall is 0 by construction;
what counts is whether Folio's confidence says "not in this catalog" (``multimodal.confidence``),
which is what these queries calibrate and measure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluation.photos import cover_fetcher
from evaluation.tasks import Query, TaskContext, book_rng, book_seed, not_in_store, register, sampled
from evaluation.text import blurb_run, known_item_query
from ingest.covers import CoverError
from multimodal import BookRecord
from multimodal.errors import FolioError
from multimodal.images import load_image
from multimodal.photo import phone_photo

ABSENT_FILE = "absent-books.json"  # in the data dir: the ids held out at ingest
ABSENT_TASKS = ("absent", "absent_scene")  # tasks whose book is not in the store: no answer is right
NO_MATCH_TARGET = 0.90  # issue 12: photos of books not in the store said to be no confident match
FOUND_TARGET = 0.95  # issue 12: in-catalog scene photos with the right book first said to be found


def is_held_out(book_id: str, share: float) -> bool:
    return book_seed(0, book_id) % 10_000 < share * 10_000


def write_present_catalog(records: list[BookRecord], share: float, data_dir: Path) -> Path:
    """The catalog without its held-out share, as JSONL in ``data_dir``; the held-out ids beside it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    held_out = [record.book_id for record in records if is_held_out(record.book_id, share)]
    (data_dir / ABSENT_FILE).write_text(json.dumps({"share": share, "ids": held_out}))
    held_out_set = set(held_out)
    path = data_dir / "catalog-present.jsonl"
    with path.open("w", encoding="utf-8") as stream:
        for record in records:
            if record.book_id not in held_out_set:
                row = {"id": record.book_id, "title": record.title, "author": record.author}
                row |= {"description": record.description, "year": record.year or "", "genre": record.genre}
                row |= {"isbn": record.isbn, "cover": record.cover}
                stream.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def held_out_ids(data_dir: Path) -> set[str]:
    path = data_dir / ABSENT_FILE
    return set(json.loads(path.read_text())["ids"]) if path.is_file() else set()


@register("absent", "Not in the catalog (held out at ingest; no answer is right)", needs="--absent at ingest")
def absent_queries(context: TaskContext) -> list[Query]:
    queries = []
    fetcher = cover_fetcher(context)
    for record in sampled(not_in_store(context), context):
        rng = book_rng(context.seed, record.book_id)
        queries.append(
            Query("absent", record.book_id, frozenset(), text=known_item_query(record.title, record.author, rng))
        )
        if len(record.description.split()) >= 16:
            queries.append(Query("absent", record.book_id, frozenset(), text=blurb_run(record.description, rng)))
        try:
            photo = phone_photo(load_image(fetcher.fetch(record.cover)), book_seed(context.seed, record.book_id))
        except (CoverError, FolioError, OSError):
            continue  # no usable cover: the text queries stand
        queries.append(Query("absent", record.book_id, frozenset(), image=photo))
    return queries


@dataclass
class ConfidenceRates:
    """How often a task's results were confident (verdict "found") and whether rightly: the printed lines too."""

    rates: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


def share_line(label: str, hits: int, total: int, target: float | None = None) -> str:
    aim = f" (target ≥ {target:.2f})" if target is not None else ""
    return f"  {label}: {hits / total:.3f} ({hits} of {total}){aim}"


def confidence_rates(outcomes: list[dict[str, Any]]) -> ConfidenceRates:
    """For books not in the store: how often the result was *no confident match* (its verdict not "found"), by
    kind of query (typed words, photo). For books in the store: how often a right first hit was said to be found,
    and how often a wrong one was."""
    if not outcomes:
        return ConfidenceRates()
    if all(outcome["task"] in ABSENT_TASKS for outcome in outcomes):
        return absent_rates(outcomes)
    first_right = [outcome for outcome in outcomes if outcome["rank"] == 1]
    first_wrong = [outcome for outcome in outcomes if outcome["rank"] != 1]
    rates, lines = {}, []
    if first_right:
        found = sum(outcome["verdict"] == "found" for outcome in first_right)
        rates["found_when_first_right"] = round(found / len(first_right), 4)
        photo = any(outcome.get("conditions", {}).get("kind") == "scene" for outcome in first_right)
        target = FOUND_TARGET if photo else None
        lines.append(share_line('right book first and said "found" (confident)', found, len(first_right), target))
    if first_wrong:
        found = sum(outcome["verdict"] == "found" for outcome in first_wrong)
        rates["found_when_first_wrong"] = round(found / len(first_wrong), 4)
        lines.append(share_line('wrong book first and said "found"', found, len(first_wrong)))
    return ConfidenceRates(rates, lines)


def absent_rates(outcomes: list[dict[str, Any]]) -> ConfidenceRates:
    rates, lines = {}, []
    kinds = {"typed words": [o for o in outcomes if o["query"]], "photos": [o for o in outcomes if not o["query"]]}
    for kind, chosen in kinds.items():
        if chosen:
            no_match = sum(outcome["verdict"] != "found" for outcome in chosen)
            said_absent = sum(outcome["verdict"] == "not_in_catalog" for outcome in chosen)
            rates[f"no_confident_match_{kind.replace(' ', '_')}"] = round(no_match / len(chosen), 4)
            target = NO_MATCH_TARGET if kind == "photos" else None
            label = f"{kind} of books not in the store, no confident match"
            lines.append(share_line(label, no_match, len(chosen), target))
            lines.append(share_line('    of which "not in this catalog"', said_absent, len(chosen)))
    return ConfidenceRates(rates, lines)
