"""Frozen sentence embeddings of "prompt + response", computed once and cached on disk.

The proxy loop trains hundreds of small heads on the same texts, so the encoder runs once per text: the
cache key is sha256(model id, max tokens, text format, text). Storage is a folder of chunk files
(``<key-prefix>.npz`` holding keys and float32 vectors) written atomically, so two processes that embed
at the same time at worst both compute a chunk; no file is ever half-written.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from models.embeddings import minilm_dir  # the one loader of the MiniLM weights (offline)

Encoder = Callable[[list[str]], np.ndarray]


def sentence_transformer_encoder(model_dir: str | Path | None = None, max_seq_length: int = 256) -> Encoder:
    """An encoder over a local sentence-transformers directory, L2-normalised outputs."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir or minilm_dir()), device="cpu", local_files_only=True)
    model.max_seq_length = max_seq_length

    def encode(texts: list[str]) -> np.ndarray:
        with torch.inference_mode():
            out = model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(out, dtype=np.float32)

    return encode


def join_prompt_response(prompt: str, response: str) -> str:
    """The proxy's text: prompt then response, as one passage."""
    return f"{prompt}\n\n{response}"


class EmbeddingCache:
    """Disk cache of embeddings keyed by (model id, settings, text) hash."""

    def __init__(
        self,
        cache_dir: str | Path,
        model_id: str = "all-MiniLM-L6-v2",
        max_seq_length: int = 256,
        encoder: Encoder | None = None,
    ) -> None:
        self.model_id = model_id
        self.max_seq_length = max_seq_length
        self.dir = Path(cache_dir) / hashlib.sha256(f"{model_id}|{max_seq_length}".encode()).hexdigest()[:16]
        self.dir.mkdir(parents=True, exist_ok=True)
        self._encoder = encoder
        self._memory: dict[str, np.ndarray] = {}
        self._loaded: set[str] = set()

    def key(self, text: str) -> str:
        return hashlib.sha256(f"{self.model_id}|{self.max_seq_length}|{text}".encode()).hexdigest()

    def _load_chunks(self) -> None:
        for path in sorted(self.dir.glob("*.npz")):
            if path.name in self._loaded:
                continue
            with np.load(path) as data:
                for k, v in zip(data["keys"], data["vectors"], strict=True):
                    self._memory[str(k)] = v
            self._loaded.add(path.name)

    def _write_chunk(self, keys: list[str], vectors: np.ndarray) -> None:
        name = hashlib.sha256("".join(keys).encode()).hexdigest()[:20] + ".npz"
        fd, tmp = tempfile.mkstemp(dir=self.dir, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, keys=np.array(keys), vectors=vectors.astype(np.float32))
        os.replace(tmp, self.dir / name)
        self._loaded.add(name)

    def embed(
        self,
        texts: Sequence[str],
        chunk_size: int = 512,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Embeddings of ``texts`` in order; only texts not in the cache are encoded (in chunks, each saved)."""
        self._load_chunks()
        keys = [self.key(t) for t in texts]
        missing: dict[str, str] = {}
        for k, t in zip(keys, texts, strict=True):
            if k not in self._memory and k not in missing:
                missing[k] = t
        todo = list(missing.items())
        if todo and self._encoder is None:
            self._encoder = sentence_transformer_encoder(max_seq_length=self.max_seq_length)
        for start in range(0, len(todo), chunk_size):
            part = todo[start : start + chunk_size]
            vectors = self._encoder([t for _, t in part])
            if vectors.shape[0] != len(part):
                raise RuntimeError(f"encoder returned {vectors.shape[0]} vectors for {len(part)} texts")
            self._write_chunk([k for k, _ in part], vectors)
            for (k, _), v in zip(part, vectors, strict=True):
                self._memory[k] = v
            if progress:
                progress(min(start + chunk_size, len(todo)), len(todo))
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._memory[k] for k in keys])
