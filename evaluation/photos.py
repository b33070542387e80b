"""Photo tasks: a simulated phone photo of a book's cover is the query.

``cover``: for each sampled book with a usable cover, a phone photo of its cover
(``multimodal.photo``, seeded per book); the right book is the one photographed, or any book whose
cover looks identical (the same perceptual hash, as ingest reports them): no photo can tell those
apart.
"""

from __future__ import annotations

from tqdm import tqdm

from evaluation.tasks import Query, TaskContext, book_seed, register, same_key_groups, sampled
from ingest.covers import CoverFetcher
from multimodal.images import load_image
from multimodal.photo import phone_photo


def cover_fetcher(context: TaskContext) -> CoverFetcher:
    roots = [context.images_dir] if context.images_dir else []
    roots.append(context.catalog if context.catalog.is_dir() else context.catalog.parent)
    return CoverFetcher(roots, context.settings.data_dir / "cover-cache", context.allow_outside)


@register("cover", "Cover identification (simulated phone photos)", shown=("R@1", "R@5", "MRR"), needs="covers")
def cover_queries(context: TaskContext) -> list[Query]:
    with_cover = [record for record in context.records if record.has_cover]
    relevant = same_key_groups(with_cover, lambda record: record.phash or record.book_id)
    fetcher = cover_fetcher(context)
    return [
        Query(
            "cover",
            record.book_id,
            relevant[record.book_id],
            image=phone_photo(load_image(fetcher.fetch(record.cover)), book_seed(context.seed, record.book_id)),
        )
        for record in tqdm(sampled(with_cover, context), desc="photos", unit="photo", disable=not context.progress)
    ]
