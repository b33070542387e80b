"""Query-time models: the cross-encoder that scores (query, book text) pairs, and the OCR that reads covers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from queue import SimpleQueue
from typing import Any, Literal

import numpy as np
from PIL import Image

from multimodal import devices
from multimodal.devices import HUB_HELP, Precision, pick_device, resolve_precision, torch_dtype
from multimodal.errors import WeightsUnavailable

logger = logging.getLogger(__name__)

LINE_HEIGHT = 48  # PP-OCR's recogniser reads a text line scaled to this height
PADDED_LINE_WIDTH = 320  # rapidocr's default: narrower lines are padded to this width

DetectionEngine = Literal["openvino", "onnxruntime"]  # what runs the OCR's text detection (CoverReader)


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

        if not Path(name_or_dir).is_dir() and not devices.hub_reachable():
            devices.use_hub_cache_only()
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

    ``padded_lines=False`` recognises each line at its own width: rapidocr pads every line to at least
    ``PADDED_LINE_WIDTH`` pixels (at 48 px tall), so a short word — most of a cover's lines — costs as
    much as a long one. Search reads photos so (the same words read, 20 % less OCR time: docs/performance.md);
    ingest and the evaluation's OCR reference row keep the padding, so that stored cover texts and
    reference figures stay comparable with earlier runs. ``threads``: the OCR sessions' threads per forward
    (search passes ``Settings.query_threads``; None: a thread per core). ``workers``: engines that ``read_all``
    runs side by side, one image each (search reads a photo and its best outline at once: about 1.8 times faster
    than one after the other on this 2-core machine, the same words).

    Text detection runs on OpenVINO (``detector``), recognition on onnxruntime. Both read the same ONNX files; on
    this machine OpenVINO detects in a third of onnxruntime's time (61 vs 183 ms median on 80 scene photos at
    512 px, one thread) and onnxruntime recognises a little faster (56 vs 78 ms: OpenVINO slows on the lines'
    changing widths). The detector is compiled at full precision (``full_precision``): OpenVINO's default on a CPU
    with bfloat16 (AMX, as here) is faster still but changed the words read in a third of those photos; at f32
    they are the words onnxruntime reads, in every photo (docs/performance.md). Where OpenVINO cannot run (not
    installed, or not on this CPU), onnxruntime detects instead and a warning says so (``self.detector``).
    """

    identity = "rapidocr:pp-ocr"

    def __init__(
        self,
        min_confidence: float = 0.5,
        max_side: int = 512,
        threads: int | None = None,
        padded_lines: bool = True,
        workers: int = 1,
        detector: DetectionEngine = "openvino",
    ) -> None:
        params: dict[str, object] = {
            "Global.use_cls": False,
            "Det.limit_type": "max",
            "Det.limit_side_len": max_side,
            "Rec.rec_batch_num": 1,
        }
        if not padded_lines:  # the narrowest line width the recogniser pads to: one line height
            params["Rec.rec_img_shape"] = [3, LINE_HEIGHT, LINE_HEIGHT]
        if threads is not None:
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = threads
            params["EngineConfig.onnxruntime.inter_op_num_threads"] = 1
        try:
            self.engines = ocr_engines(params, max(1, workers), detector, threads)
        except (ImportError, RuntimeError) as error:  # OpenVINO missing, or unable to run on this CPU
            if detector == "onnxruntime":
                raise
            logger.warning("OpenVINO cannot run the OCR's text detection here (%s); onnxruntime detects instead, about "
                           "three times slower", error)  # fmt: skip
            detector = "onnxruntime"
            self.engines = ocr_engines(params, max(1, workers), detector, threads)
        self.detector = detector
        self.pool = ThreadPoolExecutor(len(self.engines), thread_name_prefix="ocr") if workers > 1 else None
        self.idle: SimpleQueue[Any] = SimpleQueue()
        for engine in self.engines:
            self.idle.put(engine)
        self.min_confidence = min_confidence
        self.max_side = max_side

    def read(self, image: Image.Image) -> str:
        """The text on ``image``, read on an idle engine. An engine reads one image at a time: its OpenVINO detector
        is one inference request, which concurrent queries sharing it would overwrite (each other's words)."""
        engine = self.idle.get()
        try:
            return self.read_with(engine, image)
        finally:
            self.idle.put(engine)

    def read_all(self, images: Sequence[Image.Image]) -> list[str]:
        """The text of each image, in order: side by side on the ``workers`` engines, one image each."""
        if self.pool is None or len(images) < 2:
            return [self.read(image) for image in images]
        return list(self.pool.map(self.read, images))

    def read_with(self, engine: Any, image: Image.Image) -> str:
        if max(image.size) > self.max_side:  # a phone photo: OCR cost grows with pixels, accuracy does not
            image = image.copy()
            image.thumbnail((self.max_side, self.max_side), Image.BILINEAR)
        result = engine(image)
        texts = getattr(result, "txts", None) or ()
        scores = getattr(result, "scores", None) or ()
        return " ".join(text for text, score in zip(texts, scores, strict=False) if score >= self.min_confidence)


def ocr_engines(params: dict[str, object], count: int, detector: DetectionEngine, threads: int | None) -> list[Any]:
    """``count`` rapidocr engines with ``params``, their text detection on ``detector``."""
    from rapidocr import EngineType, RapidOCR

    engine_type = EngineType.OPENVINO if detector == "openvino" else EngineType.ONNXRUNTIME
    engines = [RapidOCR(params={**params, "Det.engine_type": engine_type}) for _ in range(count)]
    logging.getLogger("RapidOCR").setLevel(logging.ERROR)  # it logs every model file, and blank covers
    if detector == "openvino":
        for engine in engines:
            full_precision(engine._load_det_model().session, threads)  # rapidocr builds models on first use
    return engines


def full_precision(detector: Any, threads: int | None) -> None:
    """Compile rapidocr's OpenVINO detector again at f32, on ``threads`` threads (None: OpenVINO's default).

    rapidocr passes OpenVINO a few CPU settings but not the inference precision, so its compiled model is replaced
    by one compiled from the same ``openvino.Model`` (``tests/test_photo_speed.py`` checks the precision).
    """
    import openvino

    config = {"INFERENCE_PRECISION_HINT": "f32"}
    if threads is not None:
        config["INFERENCE_NUM_THREADS"] = str(threads)
    compiled = openvino.Core().compile_model(detector.model, "CPU", config)
    detector.session = compiled.create_infer_request()
