"""The PPM training loop on the fast proxy (spec/routing.md sections 4, 5, 7). No Django import.

generate K candidate masks -> each candidate's labels (human where routed, LM elsewhere) -> train proxy BT
heads (all candidates at once) -> measure each target -> store (feature vector, scores) rows -> fit the
PPM and report held-out Spearman / RMSE (x100) on candidates it never saw, beside the paper's Table 2.

Targets: ``HeldoutTarget`` (repeated splits of the pool, scored against the human aggregate; the same
splits for every candidate, so differences are paired) and ``BenchTarget`` (a RewardBench-style set).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import spearmanr

from models.reward.evaluation import heldout_accuracy, random_splits
from models.reward.features import BenchFeatures, PairFeatures
from models.reward.proxy import ProxySettings, fit_heads
from routing.training.adapters import candidate_features, generate_candidates, make_ppm

PAPER_TABLE2 = {"quadratic": (0.673, 0.201), "linear": (0.515, 0.239), "lightgbm": (0.377, 0.481)}
Progress = Callable[[int, int, str], None] | None


@dataclass
class Pool:
    """The instance pool P (ties under either source already dropped), its labels, tags and proxy features."""

    human: np.ndarray  # (n,) signed human aggregate
    lm: np.ndarray  # (n,) signed LM label
    tags: np.ndarray  # (n, F) bool
    tag_names: list[str]
    features: PairFeatures

    def __post_init__(self) -> None:
        n = len(self.human)
        if len(self.lm) != n or self.tags.shape[0] != n or self.features.phi_a.shape[0] != n:
            raise ValueError("Pool: human, lm, tags and features must have one row per instance")
        if (self.human == 0).any() or (self.lm == 0).any():
            raise ValueError("Pool: ties must be dropped before the loop (spec 1, recommended mode)")

    def labels(self, masks: np.ndarray) -> np.ndarray:
        """(K, n) labels of K candidates: the human label where routed, the LM label elsewhere."""
        return np.where(np.atleast_2d(masks), self.human[None, :], self.lm[None, :])

    def subset(self, rows: np.ndarray) -> Pool:
        return Pool(
            self.human[rows],
            self.lm[rows],
            self.tags[rows],
            self.tag_names,
            PairFeatures(self.features.phi_a[rows], self.features.phi_b[rows]),
        )


@dataclass
class HeldoutTarget:
    """Accuracy against the human aggregate on held-out pairs, averaged over fixed repeated splits."""

    splits: list[tuple[np.ndarray, np.ndarray]]
    name: str = "heldout"

    @classmethod
    def make(cls, n: int, n_splits: int = 5, test_fraction: float = 0.3, seed: int = 0) -> HeldoutTarget:
        return cls(random_splits(n, max(1, round(n * test_fraction)), n_splits, seed))

    def head_labels(self, labels: np.ndarray) -> np.ndarray:
        k, n = labels.shape
        out = np.zeros((k, len(self.splits), n))
        for s, (train, _) in enumerate(self.splits):
            out[:, s, train] = labels[:, train]
        return out.reshape(k * len(self.splits), n)

    def score(self, W: np.ndarray, pool: Pool) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        S = len(self.splits)
        test = np.zeros((S, len(pool.human)), bool)
        for s, (_, te) in enumerate(self.splits):
            test[s, te] = True
        gaps = W @ pool.features.diffs.T
        acc = heldout_accuracy(gaps, pool.human, np.tile(test, (W.shape[0] // S, 1))).reshape(-1, S)
        return acc.mean(1), {f"split_{s}": acc[:, s] for s in range(S)}


@dataclass
class BenchTarget:
    """RewardBench-style overall score of a head trained on the whole candidate dataset."""

    bench: BenchFeatures
    name: str = "rm-eval"

    def head_labels(self, labels: np.ndarray) -> np.ndarray:
        return labels.astype(float)

    def score(self, W: np.ndarray, pool: Pool) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        scores = self.bench.score(W)
        detail = {f"category:{k}": v for k, v in scores["categories"].items()}
        detail.update({f"subset:{k}": v for k, v in scores["subsets"].items()})
        return scores["overall"], detail


Target = HeldoutTarget | BenchTarget


def measure(
    pool: Pool,
    masks: np.ndarray,
    targets: Sequence[Target],
    settings: ProxySettings,
    batch: int = 40,
    progress: Progress = None,
    label_override: np.ndarray | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Train proxy heads for each mask and score every target: {target: {"score": (K,), detail...}}."""
    labels_all = pool.labels(masks) if label_override is None else np.atleast_2d(label_override)
    scale = pool.features.scale()
    out: dict[str, dict[str, list]] = {t.name: {} for t in targets}
    K = labels_all.shape[0]
    for start in range(0, K, batch):
        labels = labels_all[start : start + batch]
        for t in targets:
            W = fit_heads(pool.features.diffs, t.head_labels(labels), settings, scale)
            score, detail = t.score(W, pool)
            out[t.name].setdefault("score", []).append(score)
            for key, value in detail.items():
                out[t.name].setdefault(key, []).append(value)
        if progress:
            progress(min(start + batch, K), K, "proxy reward models trained")
    return {t: {k: np.concatenate(v) for k, v in d.items()} for t, d in out.items()}


def evaluate_ppm(X: np.ndarray, y: np.ndarray, kind: str, seed: int, test_fraction: float = 0.25) -> dict:
    """Fit on a random 75% of the candidates, report Spearman and RMSE (x100 scale) on the other 25%."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(y))
    n_test = max(2, round(len(y) * test_fraction))
    test, train = perm[:n_test], perm[n_test:]
    ppm = make_ppm(kind, seed).fit(X[train], y[train])
    pred = ppm.predict(X[test])
    rho = spearmanr(pred, y[test]).statistic if np.std(pred) > 0 else 0.0
    rmse = float(np.sqrt(np.mean((pred * 100 - y[test] * 100) ** 2)))
    paper = PAPER_TABLE2.get(kind, (None, None))
    return {
        "kind": kind,
        "spearman": float(rho),
        "rmse_x100": rmse,
        "n_train": len(train),
        "n_test": len(test),
        "target_std_x100": float(np.std(y[test]) * 100),
        "paper_spearman": paper[0],
        "paper_rmse_x100": paper[1],
    }


@dataclass
class LoopResult:
    masks: np.ndarray
    features: np.ndarray
    feature_names: list[str]
    scores: dict[str, dict[str, np.ndarray]]
    ppm_metrics: dict[str, list[dict]]
    ppms: dict[str, object] = field(repr=False, default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    data_order: dict = field(default_factory=dict)

    def rows(self) -> list[dict]:
        """(feature vector, scores) rows, one per candidate: what the Django loop stores."""
        out = []
        for k in range(len(self.masks)):
            out.append(
                {
                    "candidate": k,
                    "human_share": float(self.masks[k].mean()),
                    "features": self.features[k].tolist(),
                    "scores": {t: {key: float(v[k]) for key, v in d.items()} for t, d in self.scores.items()},
                }
            )
        return out


def run_loop(
    pool: Pool,
    targets: Sequence[Target],
    k: int = 200,
    seed: int = 0,
    settings: ProxySettings | None = None,
    ppm_kinds: Sequence[str] = ("linear", "quadratic", "lightgbm"),
    final_kind: str = "quadratic",
    progress: Progress = None,
) -> LoopResult:
    """The whole loop on one pool; deterministic for a given seed."""
    settings = settings or ProxySettings()
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    masks = generate_candidates(pool.tags, k, rng)
    X = candidate_features(masks, pool.tags)
    t1 = time.perf_counter()
    scores = measure(pool, masks, targets, settings, progress=progress)
    t2 = time.perf_counter()
    metrics: dict[str, list[dict]] = {}
    ppms: dict[str, object] = {}
    for t in targets:
        y = scores[t.name]["score"]
        metrics[t.name] = [evaluate_ppm(X, y, kind, seed) for kind in ppm_kinds]
        ppms[t.name] = make_ppm(final_kind, seed).fit(X, y)
    t3 = time.perf_counter()
    if progress:
        progress(k, k, "PPM fitted")
    names = [*pool.tag_names, "human_share"]
    order = {
        "seed": seed,
        "candidate_rng": "numpy default_rng(seed)",
        "splits": {
            t.name: [te.tolist() for _, te in t.splits] for t in targets if isinstance(t, HeldoutTarget)
        },
    }
    return LoopResult(
        masks,
        X,
        names,
        scores,
        metrics,
        ppms,
        {"candidates_s": t1 - t0, "train_eval_s": t2 - t1, "ppm_s": t3 - t2, "total_s": t3 - t0},
        order,
    )


def pool_from_instances(
    instances: Sequence,
    lm_judge: str,
    cache,
    settings: ProxySettings | None = None,
    tags: tuple[np.ndarray, list[str]] | None = None,
) -> tuple[Pool, list]:
    """Drop ties under either source, embed (cached), and tag (routing core's tags if given, else simple)."""
    from models.reward.data import pool_without_ties
    from routing.training.adapters import simple_tags

    settings = settings or ProxySettings()
    kept = pool_without_ties(list(instances), lm_judge)
    if not kept:
        raise ValueError(f"no instance has a non-tie human majority and a non-tie {lm_judge!r} label")
    features = PairFeatures.build(kept, cache, settings)
    if tags is None:
        resp = cache.embed([r for i in kept for r in (i.response_a, i.response_b)])
        tags = simple_tags(kept, (resp[0::2], resp[1::2]))
    human = np.array([i.human for i in kept])
    lm = np.array([i.lm[lm_judge] for i in kept])
    return Pool(human, lm, tags[0], tags[1], features), kept
