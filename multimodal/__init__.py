"""Folio's models, store and two-stage search.

from multimodal import Folio
folio = Folio.open()                      # settings from FOLIO_* environment variables
result = folio.search(text="a duke in disguise", image="photo.jpg")
for hit in result.hits:
    print(hit.rank, hit.title, hit.stage1_score, hit.stage2_score)
"""

from multimodal.errors import BadImage, FolioError, StoreMismatch, WeightsUnavailable
from multimodal.folio import Folio
from multimodal.search import Hit, SearchFilters, SearchResult
from multimodal.settings import Settings

__all__ = [
    "BadImage",
    "Folio",
    "FolioError",
    "Hit",
    "SearchFilters",
    "SearchResult",
    "Settings",
    "StoreMismatch",
    "WeightsUnavailable",
]
