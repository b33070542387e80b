"""The composition root: the one place that wires models and store, for every caller.

- ``open_search(settings)`` → a ``Folio`` (the search facade): the app, the REST API, evaluation,
  benchmarks and tests use it;
- ``open_ingest(settings)`` → an ``IngestBackend`` (the models without their query-time parts, and
  the store to write to): the ingest command and whoever else fills a store.

Profile ``auto`` reads the profile that built the store through the same store client the store is
then opened with (one client per store, not one to peek and one to use); with no store yet it tries
``clip`` and falls back to ``offline`` when CLIP or cross-encoder weights cannot be had.
"""

from __future__ import annotations

import logging
import textwrap
from dataclasses import dataclass
from typing import Any

from multimodal.errors import FolioError, WeightsUnavailable
from multimodal.folio import Folio
from multimodal.models import Models, create_models
from multimodal.profiles import load_profile
from multimodal.settings import Settings
from multimodal.store import BookStore, make_client, recorded_profile, store_exists

log = logging.getLogger(__name__)

CAUSE_CHARS = 200  # the notice quotes the first line of the cause, cut at a word
FALLBACK_NOTICE = (
    "Running the offline profile: {what} could not be loaded ({cause}). "
    "Search uses cover text (OCR), MiniLM text embeddings and perceptual cover fingerprints. "
    "To use CLIP, provide its weights: a local checkpoint file (FOLIO_CLIP_PRETRAINED=/path/to/file) "
    "or a pre-filled Hugging Face cache (HF_HOME, HF_HUB_OFFLINE=1); then re-ingest with --rebuild "
    "(README: Offline use)."
)


@dataclass
class LoadedModels:
    models: Models
    notice: str = ""  # why the profile in use is not the one asked for (shown as a banner)


@dataclass
class IngestBackend:
    """What an ingest needs: the profile's encoders (no cross-encoder, no query OCR) and the store."""

    models: Models
    store: BookStore
    notice: str = ""


def load_models(settings: Settings, for_search: bool = True, client: Any = None) -> LoadedModels:
    """Build the models of the configured profile (``auto``: see the module's docstring).

    ``client``: the store client to read an ``auto`` store's profile through (default: one opened here).
    """
    paths = settings.profile_paths
    if settings.profile != "auto":
        return LoadedModels(create_models(load_profile(settings.profile, paths), settings, for_search))
    recorded = recorded_profile(settings, client)
    if recorded:
        return LoadedModels(create_models(load_profile(recorded, paths), settings, for_search))
    try:
        return LoadedModels(create_models(load_profile("clip", paths), settings, for_search))
    except WeightsUnavailable as error:
        cause = textwrap.shorten(error.cause.splitlines()[0], CAUSE_CHARS, placeholder=" …")
        log.warning("profile auto: %s could not be loaded, running the offline profile", error.what)
        notice = FALLBACK_NOTICE.format(what=error.what, cause=cause)
        return LoadedModels(create_models(load_profile("offline", paths), settings, for_search), notice)


def open_search(settings: Settings | None = None, *, create: bool = False, models: Models | None = None) -> Folio:
    """The search facade over the store in ``settings`` (default: from FOLIO_* variables).

    An embedded store that does not exist is an error naming the data dir, unless ``create``.
    ``models``: already loaded models to reuse (tests, benchmarks), instead of loading the profile's.
    """
    settings = settings or Settings()
    if not create and not store_exists(settings):
        raise FolioError(
            f"no catalog at {settings.chroma_path} (data dir {settings.data_dir}): ingest one first "
            "(python -m ingest CATALOG), or point FOLIO_DATA_DIR / --data-dir at an existing store"
        )
    client = make_client(settings)
    loaded = LoadedModels(models) if models is not None else load_models(settings, for_search=True, client=client)
    store = BookStore(settings, loaded.models.profile.name, loaded.models.identity, client=client)
    return Folio(settings, loaded.models, store, loaded.notice)


def open_ingest(settings: Settings, *, rebuild: bool = False, models: Models | None = None) -> IngestBackend:
    """The models and store an ingest writes with; ``rebuild`` drops the store's vectors first."""
    client = make_client(settings)
    if rebuild:
        BookStore.drop(settings, client)
    loaded = LoadedModels(models) if models is not None else load_models(settings, for_search=False, client=client)
    store = BookStore(settings, loaded.models.profile.name, loaded.models.identity, client=client)
    return IngestBackend(loaded.models, store, loaded.notice)
