"""Folio's library: models, store and two-stage search (no web framework, no ingest job).

from multimodal import Folio
folio = Folio.open()                      # settings from FOLIO_* environment variables
result = folio.search(text="a duke in disguise", image="photo.jpg")
for hit in result.hits:
    print(hit.rank, hit.title, hit.stage1_score, hit.stage2_score)

The floors and registries are described in docs/architecture.md.
"""

from multimodal.errors import (
    BadImage,
    BookNotFound,
    FolioError,
    NoCover,
    ProfileError,
    SignalError,
    StoreMismatch,
    StoreUnavailable,
    WeightsUnavailable,
)
from multimodal.folio import Folio
from multimodal.profiles import Profile, list_profiles, load_profile
from multimodal.records import (
    BookRecord,
    CatalogFacets,
    Hit,
    SearchFilters,
    SearchRequest,
    SearchResult,
)
from multimodal.service import IngestBackend, open_ingest, open_search
from multimodal.settings import Settings
from multimodal.signals import SIGNALS, Signal, pair_signal
from multimodal.store import StoreInfo
from multimodal.timing import Timer

__all__ = [
    "SIGNALS",
    "BadImage",
    "BookNotFound",
    "BookRecord",
    "CatalogFacets",
    "Folio",
    "FolioError",
    "Hit",
    "IngestBackend",
    "NoCover",
    "Profile",
    "ProfileError",
    "SearchFilters",
    "SearchRequest",
    "SearchResult",
    "Settings",
    "Signal",
    "SignalError",
    "StoreInfo",
    "StoreMismatch",
    "StoreUnavailable",
    "Timer",
    "WeightsUnavailable",
    "list_profiles",
    "load_profile",
    "open_ingest",
    "open_search",
    "pair_signal",
]
