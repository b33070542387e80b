"""bf16 runtimes agree with fp32 on the same inputs (the real loading code, tiny random weights)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SAMPLE_CATALOG, TINY_CLIP_CONFIG

from multimodal.devices import resolve_precision
from multimodal.encoders import ClipEncoder
from multimodal.records import BookRecord
from multimodal.scorers import CrossScorer


def test_auto_precision_follows_the_cpu(monkeypatch):
    import multimodal.devices as devices

    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: True)
    assert resolve_precision("auto", "cpu") == "bf16"
    assert resolve_precision("auto", "cuda") == "fp32"
    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: False)
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("fp8", "cpu")


def test_bf16_clip_embeddings_agree_with_fp32(tiny_clip_checkpoint, sample_catalog):
    from PIL import Image

    covers = [Image.open(path).convert("RGB") for path in sorted((SAMPLE_CATALOG.parent / "covers").glob("*.png"))]
    texts = ["a lighthouse keeper", "murder at the auction", "poems of the northern sea"]
    vectors = {}
    for precision in ("fp32", "bf16"):
        encoder = ClipEncoder("folio-tiny-clip", str(tiny_clip_checkpoint), "cpu", 16, TINY_CLIP_CONFIG, precision)
        vectors[precision] = (encoder.encode_images(covers[:16]), encoder.encode_texts(texts))
        assert vectors[precision][0].dtype == np.float32
    for fp32, bf16 in zip(vectors["fp32"], vectors["bf16"], strict=True):
        cosines = np.sum(fp32 * bf16, axis=1)
        assert cosines.min() >= 0.99


def test_bf16_cross_encoder_ranks_like_fp32(tiny_cross_encoder):
    import csv

    rows = list(csv.DictReader(SAMPLE_CATALOG.open()))[:32]
    documents = [BookRecord(r["id"], r["title"], r["author"], r["description"]).document for r in rows]
    scores = {
        p: CrossScorer(str(tiny_cross_encoder), "cpu", precision=p).score("a map", documents) for p in ("fp32", "bf16")
    }
    assert scores["bf16"].dtype == np.float32 and scores["bf16"].shape == (32,)
    assert np.abs(scores["fp32"] - scores["bf16"]).max() < 0.02


def test_auto_keeps_the_cross_encoder_in_fp32_until_its_agreement_is_shown(tiny_cross_encoder, monkeypatch):
    import multimodal.devices as devices

    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: True)
    assert CrossScorer(str(tiny_cross_encoder), "cpu", precision="auto").precision == "fp32"
    assert CrossScorer(str(tiny_cross_encoder), "cpu", precision="bf16").precision == "bf16"


def test_int8_image_tower_agrees_with_fp32_and_leaves_the_text_tower_alone(tiny_clip_checkpoint, sample_catalog):
    from PIL import Image

    covers = [Image.open(path).convert("RGB") for path in sorted((SAMPLE_CATALOG.parent / "covers").glob("*.png"))]
    texts = ["a lighthouse keeper", "murder at the auction"]
    encoders = {
        p: ClipEncoder("folio-tiny-clip", str(tiny_clip_checkpoint), "cpu", 16, TINY_CLIP_CONFIG, p)
        for p in ("fp32", "int8")
    }
    quantised = [type(m).__module__ for m in encoders["int8"].model.visual.modules()]
    assert any("quantized" in name for name in quantised)  # the image tower really is int8
    images = {p: encoder.encode_images(covers[:16]) for p, encoder in encoders.items()}
    assert np.sum(images["fp32"] * images["int8"], axis=1).min() >= 0.99
    assert np.allclose(encoders["fp32"].encode_texts(texts), encoders["int8"].encode_texts(texts), atol=1e-6)
