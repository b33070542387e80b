"""How an image query runs its models: the thread settings that keep it fast on a shared 2-core machine
(benchmarks/photo_latency.py measures the effect; these tests pin the settings it measured)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from multimodal.scorers import CoverReader


def sample_scene(sample_catalog: Path) -> Image.Image:
    return Image.open(sample_catalog.parent / "scenes" / "scene-1.jpg").convert("RGB")


def ocr_session_threads(reader: CoverReader) -> dict[str, int]:
    """onnxruntime's intra-op threads of the OCR's detection and recognition sessions (0: its default)."""
    sessions = {"det": reader.engine.text_det, "rec": reader.engine.text_rec}
    return {name: model.session.session.get_session_options().intra_op_num_threads for name, model in sessions.items()}


def test_search_models_run_each_forward_on_the_query_threads(offline_folio, sample_catalog):
    import torch

    threads = offline_folio.settings.query_threads
    assert threads == 1
    assert torch.get_num_threads() == threads
    reader = offline_folio.models.cover_reader
    assert reader.read(sample_scene(sample_catalog))  # the sessions are made on first use
    assert ocr_session_threads(reader) == {"det": threads, "rec": threads}


def test_a_cover_reader_without_threads_keeps_onnxruntimes_default(sample_catalog):
    reader = CoverReader()
    assert reader.read(sample_scene(sample_catalog))
    assert ocr_session_threads(reader) == {"det": 0, "rec": 0}
