"""Where and how precisely models run, and where their weights come from (a local file or the model hub).

Shared by the encoders, the cross-encoder and the benchmarks (which import these rather than copies).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np


def pick_device(requested: str = "auto") -> str:
    if requested != "auto":
        return requested
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def limit_threads(count: int) -> None:
    """Run torch's operations on at most ``count`` threads in this process (its intra-op pool)."""
    import torch

    torch.set_num_threads(count)


def normalise(vectors: np.ndarray) -> np.ndarray:
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
