"""Model profiles are data: one JSON file per profile in this folder (like open_clip's model_configs)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal

from multimodal.errors import FolioError

EncoderKind = Literal["open_clip", "minilm", "perceptual"]


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    text_encoder: EncoderKind
    image_encoder: EncoderKind
    cross_encoder: str | None
    query_ocr: bool
    stage1_weights: dict[str, float] = field(default_factory=dict)
    stage2_weights: dict[str, float] = field(default_factory=dict)

    @property
    def shared_space(self) -> bool:
        """True when texts and images are embedded in one space (text→cover search works)."""
        return self.text_encoder == self.image_encoder == "open_clip"


def list_profiles() -> list[str]:
    folder = resources.files(__package__)
    return sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json"))


def load_profile(name: str) -> Profile:
    path = resources.files(__package__) / f"{name}.json"
    if not path.is_file():
        raise FolioError(f"Unknown profile {name!r}; known profiles: {', '.join(list_profiles())}")
    return Profile(**json.loads(path.read_text()))
