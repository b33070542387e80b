"""Model profiles are data: one JSON file per profile (like open_clip's model configs).

Profiles are found in this folder and in the files and folders listed in ``FOLIO_PROFILE_PATHS``
(``Settings.profile_paths``, separated like ``PATH``); a user's file of the same name replaces a
built-in one. A profile names its models and weighs its signals::

    {
      "description": "what it runs and why",
      "text_encoder": {"kind": "open_clip", "model": "ViT-B-32", "pretrained": "laion2b_s34b_b79k"},
      "image_encoder": {"kind": "open_clip", "model": "ViT-B-32", "pretrained": "laion2b_s34b_b79k"},
      "cross_encoder": "cross-encoder/ms-marco-MiniLM-L-6-v2",      (a model name or directory, or null)
      "query_ocr": true,
      "stage1_weights": {"text_vs_text": 1.0, ...},
      "stage2_weights": {"cross_encoder": 1.0, ...}
    }

An encoder is ``{"kind": K, ...}`` or just ``"K"``, where K is a registered encoder kind
(``multimodal.encoders.ENCODERS``). Weights name registered signals (``multimodal.signals``); a
profile that weighs an unknown signal, or leaves a registered signal weighted by no profile at all,
is refused when it loads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from multimodal.errors import ProfileError
from multimodal.signals import check_all_weighted, validate_weights

PROFILE_PATHS_ENV = "FOLIO_PROFILE_PATHS"


class EncoderSpec(BaseModel):
    """Which encoder: a registered kind and, for kinds that take them, a model name and pretrained weights."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    model: str | None = None  # e.g. an open_clip architecture ("ViT-B-32")
    pretrained: str | None = None  # a pretrained tag or a local weights file

    @model_validator(mode="before")
    @classmethod
    def from_kind(cls, value: Any) -> Any:
        return {"kind": value} if isinstance(value, str) else value


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str
    text_encoder: EncoderSpec
    image_encoder: EncoderSpec
    cross_encoder: str | None = None  # a cross-encoder model name or directory; None: no cross-encoder
    query_ocr: bool = True
    stage1_weights: dict[str, float]
    stage2_weights: dict[str, float]

    @property
    def shared_space(self) -> bool:
        """True when one model embeds texts and images in one space (text→cover search works)."""
        return self.text_encoder == self.image_encoder

    @property
    def weighted(self) -> set[str]:
        return set(self.stage1_weights) | set(self.stage2_weights)


def profile_paths_from_env() -> list[Path]:
    return [Path(part) for part in os.environ.get(PROFILE_PATHS_ENV, "").split(os.pathsep) if part]


def profile_files(extra_paths: Iterable[str | Path] | None = None) -> dict[str, Path]:
    """Profile name → its JSON file: the built-in ones, then the user's (which win on a name clash)."""
    folder = Path(str(resources.files(__package__)))
    files = {path.stem: path for path in sorted(folder.glob("*.json"))}
    for entry in map(Path, profile_paths_from_env() if extra_paths is None else extra_paths):
        if entry.is_dir():
            files |= {path.stem: path for path in sorted(entry.glob("*.json"))}
        elif entry.suffix == ".json" and entry.is_file():
            files[entry.stem] = entry
        else:
            raise ProfileError(f"profile path {entry} is neither a folder nor a .json file")
    return files


def list_profiles(extra_paths: Iterable[str | Path] | None = None) -> list[str]:
    """The names of every profile found (``extra_paths`` default: ``FOLIO_PROFILE_PATHS``)."""
    return sorted(profile_files(extra_paths))


def read_profile(name: str, path: Path) -> Profile:
    try:
        data = json.loads(path.read_text())
        data.setdefault("name", name)
        profile = Profile(**data)
    except (OSError, json.JSONDecodeError, ValidationError, TypeError) as error:
        raise ProfileError(f"profile {name!r} ({path}) cannot be used: {error}") from error
    if profile.name != name:
        raise ProfileError(f"profile file {path} names itself {profile.name!r}: name it {name}.json or fix the name")
    validate_weights(f"profile {name!r} ({path})", profile.stage1_weights, profile.stage2_weights)
    return profile


def load_profile(name: str, extra_paths: Iterable[str | Path] | None = None) -> Profile:
    """The profile called ``name``, checked against the signal registry (see the module's docstring)."""
    files = profile_files(extra_paths)
    if name not in files:
        raise ProfileError(f"Unknown profile {name!r}; known profiles: {', '.join(sorted(files))}")
    profiles = {other: read_profile(other, path) for other, path in files.items()}
    check_all_weighted(set().union(*(p.weighted for p in profiles.values())), f"profiles {', '.join(sorted(files))}")
    return profiles[name]
