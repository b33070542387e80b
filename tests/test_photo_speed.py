"""How an image query runs its models: the thread settings that keep it fast on a shared 2-core machine
(benchmarks/photo_latency.py measures the effect; these tests pin the settings it measured)."""

from __future__ import annotations

import csv
from pathlib import Path

from PIL import Image

from multimodal.localise import locate_cover
from multimodal.scorers import PADDED_LINE_WIDTH, CoverReader


def sample_scene(sample_catalog: Path) -> Image.Image:
    return Image.open(sample_catalog.parent / "scenes" / "scene-1.jpg").convert("RGB")


def ocr_session_threads(reader: CoverReader) -> dict[str, int]:
    """The threads of the OCR's detection (OpenVINO) and recognition (onnxruntime: 0 is its default) sessions."""
    detector = reader.engines[0].text_det.session.session.get_compiled_model()
    recogniser = reader.engines[0].text_rec.session.session.get_session_options()
    return {"det": detector.get_property("INFERENCE_NUM_THREADS"), "rec": recogniser.intra_op_num_threads}


def test_search_models_run_each_forward_on_the_query_threads(offline_folio, sample_catalog):
    import torch

    threads = offline_folio.settings.query_threads
    assert threads == 1
    assert torch.get_num_threads() == threads
    reader = offline_folio.models.cover_reader
    assert reader.read(sample_scene(sample_catalog))  # the sessions are made on first use
    assert ocr_session_threads(reader) == {"det": threads, "rec": threads}


def test_a_cover_reader_without_threads_keeps_the_libraries_defaults(sample_catalog):
    import os

    reader = CoverReader()
    assert reader.read(sample_scene(sample_catalog))
    assert ocr_session_threads(reader) == {"det": os.cpu_count(), "rec": 0}


def test_the_ocr_detects_text_at_full_precision_and_reads_what_onnxruntime_reads(sample_catalog):
    """OpenVINO would detect in bfloat16 on a CPU that has it (it changed the words read in a third of scene
    photos); Folio's detector is compiled at f32, so it reads the words of rapidocr's onnxruntime detector."""
    reader = CoverReader(padded_lines=False)
    onnxruntime_reader = CoverReader(padded_lines=False, detector="onnxruntime")
    scenes = sorted((sample_catalog.parent / "scenes").glob("*.jpg"))
    covers = sorted((sample_catalog.parent / "covers").glob("*.png"))[:4]
    assert scenes and covers
    for path in scenes + covers:
        image = Image.open(path).convert("RGB")
        assert reader.read(image) == onnxruntime_reader.read(image), path.name
    detector = reader.engines[0].text_det.session.session.get_compiled_model()
    assert str(detector.get_property("INFERENCE_PRECISION_HINT")) == "<Type: 'float32'>"
    assert type(onnxruntime_reader.engines[0].text_det.session).__name__ == "OrtInferSession"


def test_the_search_ocr_reads_lines_at_their_own_width_and_still_reads_the_scene_titles(offline_folio, sample_catalog):
    """Short lines are not padded to rapidocr's 320 px (the speed-up), and every sample scene's title is still read."""
    reader = offline_folio.models.cover_reader
    reader.read(sample_scene(sample_catalog))  # the recogniser is made on first use
    recogniser = reader.engines[0].text_rec
    forward, widths = recogniser.session, []

    def recording(batch):
        widths.append(batch.shape[-1])
        return forward(batch)

    recogniser.session = recording
    try:
        scenes = list(csv.DictReader((sample_catalog.parent / "scenes" / "scenes.csv").open(encoding="utf-8")))
        for scene in scenes:
            photo = Image.open(sample_catalog.parent / "scenes" / scene["photo"]).convert("RGB")
            read = reader.read(locate_cover(photo).image).upper().split()
            assert set(scene["title"].upper().split()) <= set(read), (scene, read)
    finally:
        recogniser.session = forward
    assert min(widths) < PADDED_LINE_WIDTH


def test_without_openvino_the_ocr_detects_on_onnxruntime_and_says_so(sample_catalog, monkeypatch, caplog):
    import sys

    monkeypatch.setitem(sys.modules, "openvino", None)  # as where OpenVINO is not installed: importing it fails
    reader = CoverReader(padded_lines=False)
    assert reader.detector == "onnxruntime"
    assert "OpenVINO cannot run the OCR's text detection here" in caplog.text
    scene = sample_scene(sample_catalog)
    assert reader.read(scene) == CoverReader(padded_lines=False, detector="onnxruntime").read(scene)
    assert type(reader.engines[0].text_det.session).__name__ == "OrtInferSession"
