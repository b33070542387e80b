"""Photo tasks: a simulated phone photo of a book's cover is the query (``multimodal.photo``, seeded per book).

- ``cover``: frame-filling photos — the cover fills the frame (at most 10 % cropped, ±10°).
- ``scene``: the cover is part of a portrait scene — 40–90 % of the frame's height, on plain, wooden,
  desk or other-covers backgrounds (the other covers come from the same catalog), ±20°, perspective,
  glare, a thumb, shadows, blur or motion blur, noise, JPEG 35–75. Each query records its
  conditions; the report breaks recall down by them.
- ``turned_scene``: the ``scene`` task's photos turned a quarter or half turn (90°, 180° or 270°, drawn per book):
  a book on a table photographed from its side or its head. ``scene`` keeps the cover upright within ±20°.
- ``absent_scene``: scene photos of covers that are in the catalog but not in the store (``--absent``
  holds a share out at ingest, ``evaluation.absent``): there is no right book, and the result should
  say it found one: its verdict should not be "found" (``multimodal.confidence``, which for a photo
  follows ``SearchResult.cover_identified``).

For ``cover``, ``scene`` and ``turned_scene`` the right book is the one photographed, or any book whose cover looks
identical (the same perceptual hash, as ingest reports them): no photo can tell those apart.
Each ranks the same photos with the reference row "OCR + plain BM25 over title+author": PP-OCR reads
the whole photo at Folio's former query resolution and plain BM25 ranks the books by those words.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from PIL import Image
from tqdm import tqdm

from evaluation.reference import Bm25Reference
from evaluation.tasks import (
    Query,
    TaskContext,
    book_rng,
    book_seed,
    not_in_store,
    register,
    same_key_groups,
    sampled,
)
from ingest.covers import CoverError, CoverFetcher
from multimodal.errors import FolioError
from multimodal.images import load_image
from multimodal.photo import phone_photo, scene_photo
from multimodal.records import BookRecord

OTHER_COVERS = 8  # covers drawn for a scene's "covers" background


def cover_fetcher(context: TaskContext) -> CoverFetcher:
    roots = [context.images_dir] if context.images_dir else []
    roots.append(context.catalog if context.catalog.is_dir() else context.catalog.parent)
    return CoverFetcher(roots, context.settings.data_dir / "cover-cache", context.allow_outside)


class OcrBm25Reference:
    """OCR of the whole photo (PP-OCR at 512 px, as Folio read photos before it looked for the cover) + plain BM25."""

    name = "OCR + plain BM25 over title+author"

    def __init__(self, records: Sequence[BookRecord]) -> None:
        from multimodal.models import CoverReader

        self.bm25 = Bm25Reference(records, ("title", "author"))
        self.reader = CoverReader(max_side=512)

    def rank(self, query: Query) -> list[str]:
        if query.image is None:
            return []
        return self.bm25.rank_text(self.reader.read(load_image(query.image)))


def ocr_reference(records: list[BookRecord]) -> OcrBm25Reference:
    return OcrBm25Reference(records)


PHOTO_TASK: dict[str, Any] = {"reference": ocr_reference, "shown": ("R@1", "R@5", "MRR"), "needs": "covers"}


def photographed_books(context: TaskContext) -> tuple[list[BookRecord], dict[str, frozenset[str]], CoverFetcher]:
    """The books with a cover, for each the books whose covers look the same (any of them is right), and a
    fetcher for the covers."""
    with_cover = [record for record in context.records if record.has_cover]
    relevant = same_key_groups(with_cover, lambda record: record.phash or record.book_id)
    return with_cover, relevant, cover_fetcher(context)


@register("cover", "Cover identification, frame-filling phone photos", **PHOTO_TASK)
def cover_queries(context: TaskContext) -> list[Query]:
    with_cover, relevant, fetcher = photographed_books(context)
    return [
        Query(
            "cover",
            record.book_id,
            relevant[record.book_id],
            image=phone_photo(load_image(fetcher.fetch(record.cover)), book_seed(context.seed, record.book_id)),
            conditions={"kind": "frame-filling"},
        )
        for record in tqdm(sampled(with_cover, context), desc="photos", unit="photo", disable=not context.progress)
    ]


@register("scene", "Cover identification, scene photos (the cover among other things)", **PHOTO_TASK)
def scene_queries(context: TaskContext) -> list[Query]:
    with_cover, relevant, fetcher = photographed_books(context)
    chosen = sampled(with_cover, context)
    return [
        scene_query("scene", record.book_id, record.cover, relevant[record.book_id], with_cover, fetcher, context)
        for record in tqdm(chosen, desc="scenes", unit="photo", disable=not context.progress)
    ]


TURNS = (90, 180, 270)  # degrees, counter-clockwise: a turned scene's turn is one of these


@register("turned_scene", "Cover identification, scene photos turned a quarter or half turn", **PHOTO_TASK)
def turned_scene_queries(context: TaskContext) -> list[Query]:
    """The ``scene`` task's photos (the same books, scenes and seeds), each turned by one of ``TURNS``."""
    turned = []
    for query in scene_queries(context):
        turn = TURNS[book_seed(context.seed, query.book_id) % len(TURNS)]
        conditions = {**query.conditions, "turn": turn}
        image = turned_photo(query.image, turn) if query.image is not None else None  # a scene query has a photo
        turned.append(Query("turned_scene", query.book_id, query.relevant, image=image, conditions=conditions))
    return turned


def turned_photo(jpeg: bytes, turn: int) -> bytes:
    """The photo turned ``turn`` degrees counter-clockwise (a multiple of 90: no pixel is resampled), as a JPEG
    of high quality (the photo's own compression is already in it)."""
    buffer = io.BytesIO()
    Image.open(io.BytesIO(jpeg)).rotate(turn, expand=True).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


@register(
    "absent_scene",
    "Not in the catalog: scene photos of covers held out of the store (no answer is right)",
    shown=("R@1",),
    needs="--absent at ingest (catalog books held out of the store)",
)
def absent_scene_queries(context: TaskContext) -> list[Query]:
    with_cover = [record for record in context.records if record.has_cover]
    fetcher = cover_fetcher(context)
    queries = []
    for record in tqdm(
        sampled(not_in_store(context), context), desc="absent", unit="photo", disable=not context.progress
    ):
        try:
            query = scene_query("absent_scene", record.book_id, record.cover, frozenset(), with_cover, fetcher, context)
        except (CoverError, FolioError, OSError):  # an unreadable cover (ingest rejected it too): no photo to take
            continue
        queries.append(query)
    return queries


def scene_query(
    task: str,
    book_id: str,
    cover: str,
    relevant: frozenset[str],
    others: list[BookRecord],
    fetcher: CoverFetcher,
    context: TaskContext,
) -> Query:
    rng = book_rng(context.seed, book_id)
    around = [record for record in rng.sample(others, min(OTHER_COVERS + 1, len(others))) if record.book_id != book_id]
    photo = scene_photo(
        load_image(fetcher.fetch(cover)),
        book_seed(context.seed, book_id),
        [load_image(fetcher.fetch(record.cover)) for record in around[:OTHER_COVERS]],
    )
    return Query(task, book_id, relevant, image=photo.jpeg, conditions={"kind": "scene", **photo.conditions})


# -- the breakdown by condition ---------------------------------------------------------------
def condition_groups(conditions: dict[str, Any]) -> list[str]:
    """The groups a photo counts in: its background, blur, framing band, and each nuisance it has."""
    groups = []
    if "background" in conditions:
        groups.append(f"background={conditions['background']}")
    if "blur" in conditions:
        groups.append(f"blur={conditions['blur']}")
    if "cover_height" in conditions:
        groups.append("cover " + ("40-65%" if conditions["cover_height"] < 0.65 else "65-90%") + " of the height")
    if "rotation" in conditions:
        groups.append("rotation " + ("≤10°" if abs(conditions["rotation"]) <= 10 else ">10°"))
    groups += [name for name in ("glare", "thumb", "shadow", "bent") if conditions.get(name)]
    if "turn" in conditions:
        groups.append(f"turned {conditions['turn']}°")
    if "jpeg" in conditions:
        groups.append("JPEG " + ("35-54" if conditions["jpeg"] < 55 else "55-75"))
    return groups


def by_condition(outcomes: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per condition group: photos, R@1 and R@5 of Folio, R@1 of the reference."""
    ranks: dict[str, list[tuple[int | None, int | None]]] = defaultdict(list)
    for outcome in outcomes:
        for group in condition_groups(outcome.get("conditions") or {}):
            ranks[group].append((outcome["rank"], outcome.get("reference_rank")))
    table = {}
    for group in sorted(ranks):
        pairs = ranks[group]
        table[group] = {
            "photos": len(pairs),
            "R@1": round(sum(rank == 1 for rank, _ in pairs) / len(pairs), 3),
            "R@5": round(sum(rank is not None and rank <= 5 for rank, _ in pairs) / len(pairs), 3),
            "reference R@1": round(sum(ref == 1 for _, ref in pairs) / len(pairs), 3),
        }
    return table


def condition_lines(table: dict[str, dict[str, float]]) -> list[str]:
    if not table:
        return []
    width = max(len(group) for group in table)
    lines = [f"  by condition:{'':<{width - 11}}{'photos':>8}{'R@1':>8}{'R@5':>8}{'ref R@1':>9}"]
    lines += [
        f"    {group:<{width}}{row['photos']:>8}{row['R@1']:>8.3f}{row['R@5']:>8.3f}{row['reference R@1']:>9.3f}"
        for group, row in table.items()
    ]
    return lines


def photo_summary(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """What a photo task adds to its report: recall by condition, and how often the cover was found.
    (How often the result is confident is every task's: ``evaluation.absent.confidence_rates``.)"""
    photos = [outcome for outcome in outcomes if outcome.get("conditions")]
    if not photos:
        return {}
    if all(outcome["task"] == "absent_scene" for outcome in photos):
        return {"not_identified": True}  # no right book: the confidence rates are the whole story
    table = by_condition(photos)
    regions = sum(outcome.get("cover_region") == "cover" for outcome in photos) / len(photos)
    lines = [
        f"  the cover was found and rectified in {regions:.3f} of the photos (else the whole photo was used)",
        *condition_lines(table),
    ]
    return {"by_condition": table, "cover_found": round(regions, 4), "detail_lines": lines}
