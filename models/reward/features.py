"""Proxy features for a dataset's pairs and for an evaluation set's triples, built from the embedding cache."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from models.reward.data import LabelledPair, Triple
from models.reward.embedding_cache import EmbeddingCache, join_prompt_response
from models.reward.evaluation import BenchLayout, bench_scores, correct_flags
from models.reward.proxy import ProxySettings, feature_scale, response_features

Progress = Callable[[int, int], None] | None


def response_phi(
    cache: EmbeddingCache,
    settings: ProxySettings,
    prompts: Sequence[str],
    responses: Sequence[str],
    progress: Progress = None,
) -> np.ndarray:
    """phi(prompt, response) of each response under ``settings`` (embeddings from the cache)."""
    pr = cache.embed(
        [join_prompt_response(p, r) for p, r in zip(prompts, responses, strict=True)], progress=progress
    )
    resp = cache.embed(list(responses), progress=progress) if "resp" in settings.features else None
    return response_features(settings, pr, responses, resp)


@dataclass
class PairFeatures:
    """phi(response_a), phi(response_b) for each instance of a pool, in pool order."""

    phi_a: np.ndarray
    phi_b: np.ndarray

    @classmethod
    def build(
        cls,
        instances: Sequence[LabelledPair],
        cache: EmbeddingCache,
        settings: ProxySettings,
        progress: Progress = None,
    ) -> PairFeatures:
        prompts = [i.prompt for i in instances]
        return cls(
            response_phi(cache, settings, prompts, [i.response_a for i in instances], progress),
            response_phi(cache, settings, prompts, [i.response_b for i in instances], progress),
        )

    @property
    def diffs(self) -> np.ndarray:
        return self.phi_b - self.phi_a

    def scale(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Standardisation fitted on (a subset of) this pool's responses only, never on evaluation data."""
        a, b = (self.phi_a, self.phi_b) if rows is None else (self.phi_a[rows], self.phi_b[rows])
        return feature_scale(np.concatenate([a, b]))


@dataclass
class BenchFeatures:
    """phi(chosen), phi(rejected) and the subset layout of a RewardBench-style file."""

    phi_chosen: np.ndarray
    phi_rejected: np.ndarray
    layout: BenchLayout

    @classmethod
    def build(
        cls,
        triples: Sequence[Triple],
        cache: EmbeddingCache,
        settings: ProxySettings,
        weights: dict[str, float] | None = None,
        progress: Progress = None,
    ) -> BenchFeatures:
        prompts = [t.prompt for t in triples]
        return cls(
            response_phi(cache, settings, prompts, [t.chosen for t in triples], progress),
            response_phi(cache, settings, prompts, [t.rejected for t in triples], progress),
            BenchLayout.from_triples([t.subset for t in triples], [t.category for t in triples], weights),
        )

    def score(self, W: np.ndarray) -> dict:
        """Scores of H linear heads (W: (H, d)) on this set."""
        return bench_scores(correct_flags(W @ self.phi_chosen.T, W @ self.phi_rejected.T), self.layout)
