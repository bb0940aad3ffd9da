"""The PPM training loop on the fast proxy (docs/METHOD.md: Target, PPM, Proxy loop). No Django import.

generate K candidate masks -> each candidate's labels (human where routed, LM elsewhere) -> train proxy BT
heads (all candidates at once) -> measure each target -> store (feature vector, scores) rows -> fit the
PPM and report held-out Spearman / RMSE (x100) on candidates it never saw, beside the paper's Table 2.

Everything routing-specific is the routing core's: the pool rule (``routing.pool``), the tag matrix and
feature vectors (``routing.binning.TagTable`` / ``routing.features.FeatureBuilder``), the candidates
(``routing.candidates``) and the PPM (``routing.ppm``). This module only adds the proxy measurements.

Targets: ``HeldoutTarget`` (repeated splits of the pool, scored against the human aggregate; the same
splits for every candidate, so differences are paired) and ``BenchTarget`` (a RewardBench-style set).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import ConstantInputWarning

from models.reward.evaluation import heldout_accuracy, random_splits
from models.reward.features import BenchFeatures, PairFeatures
from models.reward.proxy import ProxySettings, fit_heads
from routing.binning import TagTable
from routing.candidates import generate_candidates
from routing.config import RECOMMENDED
from routing.features import FeatureBuilder
from routing.pool import either_source_pool
from routing.ppm import PAPER_TABLE2, PPM, regression_metrics

Progress = Callable[[int, int, str], None] | None


@dataclass
class RoutingPool:
    """The instance pool P (ties under either source already dropped), its labels, its routing-core feature
    builder (tag matrix T and the mode's feature vectors) and its proxy features."""

    human: np.ndarray  # (n,) signed human aggregate
    lm: np.ndarray  # (n,) signed LM label
    builder: FeatureBuilder
    features: PairFeatures

    def __post_init__(self) -> None:
        n = len(self.human)
        if len(self.lm) != n or self.builder.n != n or self.features.phi_a.shape[0] != n:
            raise ValueError("RoutingPool: human, lm, tags and features must have one row per instance")
        if len(either_source_pool(self.human, self.lm)) != n:
            raise ValueError(
                "RoutingPool: ties must be dropped before the loop (routing.pool.either_source_pool)"
            )

    @property
    def tags(self) -> np.ndarray:
        return self.builder.T

    @property
    def tag_names(self) -> list[str]:
        return self.builder.tag_names

    def labels(self, masks: np.ndarray) -> np.ndarray:
        """(K, n) labels of K candidates: the human label where routed, the LM label elsewhere."""
        return np.where(np.atleast_2d(masks), self.human[None, :], self.lm[None, :])

    def subset(self, rows: np.ndarray) -> RoutingPool:
        return RoutingPool(
            self.human[rows],
            self.lm[rows],
            FeatureBuilder(self.builder.table.subset(rows), self.builder.mode),
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

    def score(self, W: np.ndarray, pool: RoutingPool) -> tuple[np.ndarray, dict[str, np.ndarray]]:
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

    def score(self, W: np.ndarray, pool: RoutingPool) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        scores = self.bench.score(W)
        detail = {f"category:{k}": v for k, v in scores["categories"].items()}
        detail.update({f"subset:{k}": v for k, v in scores["subsets"].items()})
        return scores["overall"], detail


Target = HeldoutTarget | BenchTarget


def measure(
    pool: RoutingPool,
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


def evaluate_ppm(
    X: np.ndarray, y: np.ndarray, kind: str, seed: int, test_fraction: float = 0.25, mode: str = "recommended"
) -> dict:
    """Fit on a random 75% of the candidates, report Spearman and RMSE (x100 scale) on the other 25%."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(y))
    n_test = max(2, round(len(y) * test_fraction))
    test, train = perm[:n_test], perm[n_test:]
    ppm = PPM(kind=kind, mode=mode, random_state=seed).fit(X[train], y[train])
    pred = ppm.predict(X[test])
    with warnings.catch_warnings():  # a constant prediction has no rank correlation: reported as 0
        warnings.simplefilter("ignore", ConstantInputWarning)
        m = regression_metrics(y[test] * 100, pred * 100)
    paper = PAPER_TABLE2.get(kind, (None, None))
    return {
        "kind": kind,
        "spearman": m["spearman"] if np.isfinite(m["spearman"]) else 0.0,  # constant prediction
        "rmse_x100": m["rmse"],
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
    ppms: dict[str, PPM] = field(repr=False, default_factory=dict)
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
    pool: RoutingPool,
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
    mode = pool.builder.mode
    started = time.perf_counter()
    masks = generate_candidates(pool.builder.T, k, np.random.default_rng(seed), mode).masks
    features = pool.builder.transform(masks)
    generated = time.perf_counter()
    scores = measure(pool, masks, targets, settings, progress=progress)
    measured = time.perf_counter()
    metrics: dict[str, list[dict]] = {}
    ppms: dict[str, PPM] = {}
    for target in targets:
        metrics[target.name], ppms[target.name] = _fit_target_ppm(
            features,
            scores[target.name]["score"],
            pool.builder.feature_names,
            ppm_kinds,
            final_kind,
            seed,
            mode,
        )
    fitted = time.perf_counter()
    if progress:
        progress(k, k, "PPM fitted")
    order = {
        "seed": seed,
        "candidate_rng": "numpy default_rng(seed)",
        "splits": {
            target.name: [test.tolist() for _, test in target.splits]
            for target in targets
            if isinstance(target, HeldoutTarget)
        },
    }
    timings = {
        "candidates_s": generated - started,
        "train_eval_s": measured - generated,
        "ppm_s": fitted - measured,
        "total_s": fitted - started,
    }
    return LoopResult(masks, features, pool.builder.feature_names, scores, metrics, ppms, timings, order)


def _fit_target_ppm(
    features: np.ndarray,
    scores: np.ndarray,
    names: list[str],
    ppm_kinds: Sequence[str],
    final_kind: str,
    seed: int,
    mode,
) -> tuple[list[dict], PPM]:
    """Held-out metrics of every PPM kind on the candidates, and the final kind fitted on all of them, carrying
    the held-out metrics of its own kind (measured on candidates the split kept out)."""
    metrics = [evaluate_ppm(features, scores, kind, seed, mode=mode.name) for kind in ppm_kinds]
    ppm = PPM(kind=final_kind, mode=mode.name, random_state=seed).fit(features, scores, feature_names=names)
    held = next((row for row in metrics if row["kind"] == final_kind), None)
    if held is not None:
        ppm.metrics_ = {"spearman": held["spearman"], "rmse_x100": held["rmse_x100"], "n": held["n_test"]}
    return metrics, ppm


def pool_from_instances(
    instances: Sequence,
    lm_judge: str,
    cache,
    table: TagTable,
    settings: ProxySettings | None = None,
) -> tuple[RoutingPool, list]:
    """The recommended-mode pool (``routing.pool.either_source_pool``) of ``instances``, their proxy
    features (embeddings cached) and the routing core's tags; ``table`` has one row per instance, in order."""
    settings = settings or ProxySettings()
    instances = list(instances)
    if [str(x) for x in table.instance_ids] != [str(i.id) for i in instances]:
        raise ValueError("pool_from_instances: the tag table's rows are not the instances, in the same order")
    rows = either_source_pool([i.human for i in instances], [i.lm.get(lm_judge) for i in instances])
    if not len(rows):
        raise ValueError(f"no instance has a non-tie human majority and a non-tie {lm_judge!r} label")
    kept = [instances[r] for r in rows]
    features = PairFeatures.build(kept, cache, settings)
    human = np.array([i.human for i in kept])
    lm = np.array([i.lm[lm_judge] for i in kept])
    builder = FeatureBuilder(table.subset(rows), RECOMMENDED)
    return RoutingPool(human, lm, builder, features), kept
