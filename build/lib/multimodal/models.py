"""The models one profile needs, built once per process: ``create_models(profile, settings)``.

The encoder classes live in ``multimodal.encoders`` (registered by kind), the query-time models
(cross-encoder, OCR) in ``multimodal.scorers``, device and precision helpers in ``multimodal.devices``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from multimodal.devices import limit_threads
from multimodal.encoders import ImageEncoder, TextEncoder, build_encoder
from multimodal.profiles import EncoderSpec, Profile
from multimodal.scorers import CoverReader, CrossScorer
from multimodal.settings import Settings

# A photo query reads its region and, when the whole photo is used, its best outline too (``photo_query``): two OCR
# engines read them side by side.
OCR_WORKERS = 2


@dataclass
class Models:
    """The models one profile needs, built once per process and shared by all requests."""

    profile: Profile
    text_encoder: TextEncoder
    image_encoder: ImageEncoder
    cross_scorer: CrossScorer | None
    cover_reader: CoverReader | None

    @property
    def identity(self) -> str:
        """What built the stored vectors; the cross-scorer and OCR can change without re-embedding."""
        return f"{self.profile.name}|text={self.text_encoder.identity}|image={self.image_encoder.identity}"


def create_models(profile: Profile, settings: Settings, for_search: bool = True) -> Models:
    """Build the models a profile names, with the overrides in settings (FOLIO_CLIP_MODEL, ...).

    One spec used for texts and images (CLIP) is built once. ``for_search=False`` (ingest) skips the
    query-time models: the cross-scorer and query OCR. Search models run each forward on
    ``settings.query_threads`` threads (see Settings); ingest keeps the libraries' thread defaults.
    """
    if for_search:
        limit_threads(settings.query_threads)
    built: dict[EncoderSpec, Any] = {}
    for spec in (profile.image_encoder, profile.text_encoder):
        if spec not in built:
            built[spec] = build_encoder(spec, settings)
    cross_encoder = settings.cross_encoder or profile.cross_encoder
    cross_scorer = (
        CrossScorer(cross_encoder, settings.device, precision=settings.precision)
        if for_search and profile.cross_encoder
        else None
    )
    wants_ocr = for_search and profile.query_ocr and settings.query_ocr
    cover_reader = (
        CoverReader(threads=settings.query_threads, padded_lines=False, workers=OCR_WORKERS) if wants_ocr else None
    )
    return Models(profile, built[profile.text_encoder], built[profile.image_encoder], cross_scorer, cover_reader)
