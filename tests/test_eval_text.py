"""The typed-query tasks, their BM25 reference row and the held-out split (no real data needed)."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
from conftest import SAMPLE_CATALOG

from evaluation.metrics import verdict
from evaluation.reference import Bm25Reference, text_reference
from evaluation.runner import EvalOptions, evaluate, parse_args
from evaluation.tasks import TASKS, Query, TaskContext, split_name
from evaluation.text import BLURB_WORDS, TOPICAL_SAMPLE, blurb_run, topical_queries
from multimodal import BookRecord, Folio, Settings

DESCRIPTION = (
    "Beekeeper Tamsin Rowe inherits forty hives planted around a decommissioned lighthouse in Cornwall. "
    "The new owner, a brooding architect, wants the bees gone before the summer season opens."
)


def books() -> list[BookRecord]:
    return [
        BookRecord("bees", "Honey Under the Lighthouse", "Priya Ellsworth-Nandi", DESCRIPTION),
        BookRecord("city", "La città e i cani", "Mario Vargas Llosa", "Un romanzo sui cadetti di un collegio."),
        BookRecord("plain", "Something Else", "Anon", "A book about nothing in particular at all, really."),
    ]


def test_bm25_reference_folds_case_and_accents_and_leaves_unmatched_books_out():
    reference = text_reference(books())
    assert reference.name == "BM25 over title+author+description"
    assert reference.rank(Query("title", "city", frozenset({"city"}), text="LA CITTA E I CANI")) == ["city"]
    assert reference.rank_text("forty hives cornwall")[0] == "bees"
    assert reference.rank_text("zebra") == []
    assert Bm25Reference(books(), ("title",)).rank_text("lighthouse cornwall") == ["bees"]  # the field list counts


def test_blurb_run_is_eight_words_from_the_middle_and_seeded():
    runs = {blurb_run(DESCRIPTION, random.Random(seed)) for seed in range(30)}
    words = DESCRIPTION.lower().replace(".", "").replace(",", "").split()
    for run in runs:
        assert len(run.split()) == BLURB_WORDS
        assert run in " ".join(words)
        assert not run.startswith("beekeeper tamsin")  # not the opening words
    assert len(runs) > 3
    assert blurb_run(DESCRIPTION, random.Random(4)) == blurb_run(DESCRIPTION, random.Random(4))
    assert len(blurb_run("one two three four five six seven eight", random.Random(0)).split()) == 8


def test_topical_set_names_sample_books_in_several_languages_and_both_splits():
    with SAMPLE_CATALOG.open(newline="", encoding="utf-8") as stream:
        sample_ids = {row["id"] for row in csv.DictReader(stream)}
    entries = [json.loads(line) for line in TOPICAL_SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert all(set(entry["relevant"]) <= sample_ids for entry in entries)
    assert {"en", "it"} <= {entry["lang"] for entry in entries}
    for split in ("tuning", "held-out"):
        assert {entry["lang"] for entry in entries if entry["split"] == split} >= {"en", "it"}
    assert len({entry["query"] for entry in entries}) == len(entries)


def context(records: list[BookRecord], seed: int) -> TaskContext:
    return TaskContext(records, SAMPLE_CATALOG, None, Settings(), None, seed)


def test_the_split_picks_the_topical_questions_and_is_named():
    records = [BookRecord(f"sample-{i:03d}", f"Book {i}") for i in range(1, 65)]
    held_out, tuning = topical_queries(context(records, 1)), topical_queries(context(records, 2))
    assert held_out and tuning
    assert not {query.text for query in held_out} & {query.text for query in tuning}
    assert len(topical_queries(context(records, 7))) == len(held_out) + len(tuning)
    assert topical_queries(context(records[:2], 1)) == []  # another catalog: its books are not there
    assert (split_name(1), split_name(2)) == ("held-out", "tuning")
    assert parse_args(["x.csv"]).split == "held-out" and parse_args(["x.csv", "--split", "tuning"]).split == "tuning"


def test_verdict_says_plainly_where_folio_is_below_the_reference():
    scores = {"cross_scored": {"R@1": 0.8}, "reference": {"R@1": 0.9}}
    assert "BELOW" in verdict(scores)
    assert "ties" in verdict({"cross_scored": {"R@1": 0.9}, "reference": {"R@1": 0.9}})
    assert "no reference" in verdict({"cross_scored": {"R@1": 0.9}, "reference": None})


def test_every_typed_task_has_a_reference_row():
    assert {"title", "blurb", "known_item", "topical"} <= set(TASKS)
    assert all(TASKS[name].reference is not None for name in ("title", "blurb", "known_item", "topical"))


@pytest.mark.slow
def test_evaluation_of_the_sample_catalog_runs_every_typed_task_beside_bm25(offline_folio: Folio, tmp_path: Path):
    options = EvalOptions(SAMPLE_CATALOG, tasks=("title", "blurb", "known_item", "topical"), progress=False)
    report = evaluate(offline_folio, options)
    assert report["split"] == "held-out"
    for name in options.tasks:
        result = report["tasks"][name]
        assert result["scores"]["queries"] > 0 and result["scores"]["reference"] is not None, name
        assert len(result["outcomes"]) == result["scores"]["queries"]
    assert report["tasks"]["title"]["scores"]["reference"]["R@1"] == 1.0  # exact titles: BM25 cannot miss these
    topical = report["tasks"]["topical"]
    assert {outcome["query"] for outcome in topical["outcomes"]} >= {"a book about a beekeeper"}


def test_the_present_catalog_leaves_the_held_out_share_out_and_reads_back(tmp_path: Path):
    from evaluation.absent import held_out_ids, is_held_out, write_present_catalog
    from evaluation.tasks import catalog_records
    from ingest.readers import ColumnMap

    records = catalog_records(SAMPLE_CATALOG, ColumnMap())
    path = write_present_catalog(records, 0.1, tmp_path)
    present = catalog_records(path, ColumnMap())
    held_out = held_out_ids(tmp_path)
    assert held_out and len(present) + len(held_out) == len(records) == 64
    assert not held_out & {record.book_id for record in present}
    assert all(is_held_out(book_id, 0.1) for book_id in held_out)
    assert [(r.title, r.description, r.cover) for r in present][:3] == [
        (r.title, r.description, r.cover) for r in records if r.book_id not in held_out
    ][:3]
