"""All of Folio's configuration in one place.

Every field can be set by an environment variable ``FOLIO_<FIELD>`` (for example
``FOLIO_PROFILE=offline`` or ``FOLIO_CHROMA_HOST=127.0.0.1``) or passed explicitly;
the command-line tools map their flags onto the same fields.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from multimodal.profiles import list_profiles


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FOLIO_", extra="ignore")

    # Which model profile to use: a profile JSON's name (multimodal/profiles/*.json, plus the files and
    # folders in profile_paths). "auto" uses the profile that built an existing store, else tries "clip"
    # and falls back to "offline".
    profile: str = "auto"
    # More profile JSON files or folders of them (FOLIO_PROFILE_PATHS: separated by ":" like PATH).
    profile_paths: Annotated[list[Path], NoDecode] = Field(default_factory=list)

    # Overrides of the models the profile names (None: the profile's own).
    # CLIP: an open_clip model name, and a pretrained tag or a local checkpoint file.
    clip_model: str | None = None
    clip_pretrained: str | None = None
    # Optional: an open_clip architecture JSON (like open_clip's model_configs/*.json) to register;
    # its file name (without .json) is then a valid clip_model.
    clip_model_config: Path | None = None
    # The cross-encoder of a profile that has one: a Hugging Face model name or a local directory.
    cross_encoder: str | None = None
    device: str = "auto"
    # Numeric precision of the CLIP towers: "auto" (bf16 on CPUs with native bf16 units, else fp32),
    # "fp32" or "bf16"; "int8": the CLIP image tower in int8 (for CPUs without bf16). The cross-encoder
    # runs in fp32 unless this is "bf16" (its bf16 ranks are not shown to agree: docs/performance.md).
    # Stored vectors stay compatible across precisions.
    precision: Literal["auto", "fp32", "bf16", "int8"] = "auto"

    # Store: an embedded Chroma database under data_dir, or a Chroma server when chroma_host is set.
    data_dir: Path = Path(".folio")
    collection: str = "books"
    chroma_host: str | None = None
    chroma_port: int = 8000
    # How long to keep retrying a Chroma server that does not answer before giving up (ingest then
    # stops with exit code 4, and rerunning the same command resumes).
    store_retry_seconds: float = Field(5.0, ge=0.0)
    # How long one request to a Chroma server may take (connect, send, wait for the answer) before it
    # counts as unanswered and is retried: a store call gives up after at most
    # store_retry_seconds + store_timeout_seconds (a frozen server: exit 4 for ingest, 503 for the app).
    store_timeout_seconds: float = Field(5.0, gt=0.0)

    # Search.
    shortlist: int = Field(50, ge=1, le=1000, description="stage-1 candidates per channel")
    cross_score_top: int = Field(50, ge=0, le=1000, description="how many shortlisted books stage 2 scores")
    results: int = Field(10, ge=1, le=200)
    # Hits whose relevance (absolute match strength in [0, 1]) is below this are left out. On the
    # sample catalog with the offline profile, nonsense queries top out near 0.3 and real matches
    # score 0.5-0.9 (tests/test_offline.py::test_relevance_tells_a_match_from_nonsense).
    min_score: float = Field(0.3, ge=0.0, le=1.0)
    query_ocr: bool = True
    # Concurrent queries share model forwards (multimodal/batching.py); off: each query runs its own.
    share_forwards: bool = True
    # Threads one model forward of a search uses (torch's intra-op pool, set for the whole process when
    # the search models are built, and the OCR's onnxruntime session). A query's forwards are small: on
    # the shared 2-core machine a second thread made them slower, not faster (the threads wait for each
    # other at every operation while the other core is busy: docs/performance.md, image queries), and
    # concurrent queries already keep both cores busy. Ingest keeps the libraries' defaults.
    query_threads: int = Field(1, ge=1, le=64)

    # Ingest.
    batch_size: int = Field(32, ge=1)

    # App.
    host: str = "127.0.0.1"
    port: int = 7860

    @field_validator("profile_paths", mode="before")
    @classmethod
    def split_paths(cls, value: Any) -> Any:
        """FOLIO_PROFILE_PATHS=a.json:more-profiles/ — a PATH-like list."""
        if isinstance(value, str):
            return [part for part in value.split(os.pathsep) if part]
        return value

    @model_validator(mode="after")
    def known_profile(self) -> Settings:
        known = list_profiles(self.profile_paths)
        if self.profile != "auto" and self.profile not in known:
            raise ValueError(f"unknown profile {self.profile!r}; known profiles: auto, {', '.join(known)}")
        return self

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def uses_server(self) -> bool:
        return bool(self.chroma_host)
