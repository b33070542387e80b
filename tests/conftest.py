"""Shared fixtures: the sample catalog, tiny random CLIP and cross-encoder models, ingested stores.

Tiny models are built here with random weights and saved to files, so that the real loading code
(``open_clip.create_model_and_transforms(name, pretrained=FILE)``, ``CrossEncoder(DIR)``) runs.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.job import IngestJob, IngestOptions
from multimodal import Folio, Settings, open_ingest
from multimodal.records import BookRecord

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CATALOG = ROOT / "assets" / "sample" / "catalog.csv"
SHARED_DATA = ROOT.parent / "shared" / "data"
TINY_CLIP_CONFIG = Path(__file__).parent / "fixtures" / "folio-tiny-clip.json"

needs_shared_data = pytest.mark.skipif(
    not (SHARED_DATA / "romance-covers").is_dir(),
    reason=f"real covers not found at {SHARED_DATA} (the ../shared folder beside the repo)",
)


@pytest.fixture(scope="session")
def sample_catalog() -> Path:
    """The project's sample catalog, with its covers drawn (once) by the project's own script."""
    subprocess.run([sys.executable, str(ROOT / "assets" / "make_sample_catalog.py")], check=True, capture_output=True)
    return SAMPLE_CATALOG


@pytest.fixture(scope="session")
def tiny_clip_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised tiny open_clip model saved as a local checkpoint file."""
    import open_clip
    import torch

    open_clip.add_model_config(TINY_CLIP_CONFIG)
    torch.manual_seed(0)
    model = open_clip.create_model("folio-tiny-clip", pretrained=None)
    path = tmp_path_factory.mktemp("tiny-clip") / "folio-tiny-clip.pt"
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory, sample_catalog: Path) -> Path:
    """A randomly initialised tiny BERT cross-encoder saved to a directory CrossEncoder can load."""
    import csv
    import re

    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    words: set[str] = set()
    with sample_catalog.open() as stream:
        for row in csv.DictReader(stream):
            words.update(re.findall(r"[a-z]+", f"{row['title']} {row['author']} {row['description']}".lower()))
    folder = tmp_path_factory.mktemp("tiny-cross-encoder")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    (folder / "vocab.txt").write_text("\n".join(specials + sorted(words)) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"))
    config = BertConfig(
        vocab_size=len(specials) + len(words),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        num_labels=1,
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def clip_settings_factory(tiny_clip_checkpoint: Path, tiny_cross_encoder: Path):
    """Settings for the clip profile with the tiny models, in a data dir of the caller's choice."""

    def make(data_dir: Path, **overrides: object) -> Settings:
        return Settings(
            profile="clip",
            clip_model="folio-tiny-clip",
            clip_model_config=TINY_CLIP_CONFIG,
            clip_pretrained=str(tiny_clip_checkpoint),
            cross_encoder=str(tiny_cross_encoder),
            data_dir=data_dir,
            **overrides,
        )

    return make


def ingest(settings: Settings, catalog: Path, **options: object):
    backend = open_ingest(settings)
    job = IngestJob(backend.models, backend.store, IngestOptions(catalog=catalog, progress=False, **options))
    return job.run()


@pytest.fixture(scope="session")
def clip_folio(tmp_path_factory: pytest.TempPathFactory, clip_settings_factory, sample_catalog: Path) -> Folio:
    """The sample catalog ingested with the tiny clip profile (once per test session)."""
    settings = clip_settings_factory(tmp_path_factory.mktemp("clip-store"))
    summary = ingest(settings, sample_catalog)
    assert summary.ingested == 64 and not summary.rejected
    return Folio.open(settings)


@pytest.fixture(scope="session")
def offline_folio(tmp_path_factory: pytest.TempPathFactory, sample_catalog: Path) -> Folio:
    """The sample catalog ingested with the offline profile (real MiniLM and OCR weights)."""
    settings = Settings(profile="offline", data_dir=tmp_path_factory.mktemp("offline-store"))
    summary = ingest(settings, sample_catalog)
    assert summary.ingested == 64 and not summary.rejected
    return Folio.open(settings)


class FakeStore:
    """Book records with content hashes, as BookStore.iter_records gives them, and a change counter."""

    def __init__(self, records: list[BookRecord]) -> None:
        self.records = {record.book_id: record for record in records}
        self.changes = 0
        self.read_seconds = 0.0  # how long reading every record takes

    def iter_records(self):
        time.sleep(self.read_seconds)
        return iter(list(self.records.values()))

    def generation(self) -> int:
        return self.changes

    def put(self, record: BookRecord) -> None:
        self.records[record.book_id] = record
        self.changes += 1

    def remove(self, book_id: str) -> None:
        del self.records[book_id]
        self.changes += 1
