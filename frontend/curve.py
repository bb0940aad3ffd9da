"""The budget curve and the per-tag gain chart of the researcher's routing page.

Every number here comes from the routing core, called exactly as ``manage.py route`` and
``manage.py gain_report`` call it (``routing.strategies.route`` with a ``numpy`` generator seeded like the
command, ``routing.strategies.tag_gain_table``), so the page and the commands agree on one project.
The curve: for each human budget from 0 to 100% of the instances, the reward-model score the PPM predicts
for the routed mix (the chosen strategy), for random mixes of the same size (mean over seeded draws), and
the two ends, 100% human and 100% LM. Plots are SVG drawn on the server by matplotlib (no script, no CDN).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from annotation.models import Project
from routing.app.models import PPMArtifact
from routing.app.services import RoutingError, project_tag_table
from routing.config import get_mode
from routing.features import FeatureBuilder
from routing.ppm import PPM
from routing.strategies import route, tag_gain_table

GRID = tuple(round(k / 20, 2) for k in range(21))  # 0%, 5%, ..., 100%
RANDOM_DRAWS = 20
CURVE_STRATEGIES = ("top_k", "simulated", "greedy")
# Where the axes sit inside the SVG (fractions of the figure): the page maps a click to a budget with these.
AXES_BOX = (0.11, 0.14, 0.86, 0.78)  # left, bottom, width, height


@dataclass
class Loaded:
    """A project's PPM and feature builder, as the routing commands build them."""

    ppm: PPM
    builder: FeatureBuilder

    @property
    def n(self) -> int:
        return self.builder.n


def load(project: Project, artifact: PPMArtifact) -> Loaded:
    """The artifact's PPM and the project's features (its stored tags) in the PPM's mode."""
    ppm = artifact.load()
    mode = get_mode(ppm.mode)
    builder = FeatureBuilder(project_tag_table(project, mode), mode)
    if ppm.n_features_in_ != builder.n_features:
        raise RoutingError(
            f"PPM {artifact.name!r} expects {ppm.n_features_in_} features; project {project.name!r} gives "
            f"{builder.n_features}: fit a PPM on this project's tags"
        )
    return Loaded(ppm, builder)


def routed_score(loaded: Loaded, budget: int, strategy: str, seed: int = 0) -> float:
    """What ``manage.py route --budget <count> --strategy <strategy> --seed <seed>`` would predict."""
    return float(route(strategy, loaded.ppm, loaded.builder, budget, np.random.default_rng(seed)).predicted)


def random_score(loaded: Loaded, budget: int, draws: int = RANDOM_DRAWS, seed: int = 0) -> float:
    """Mean predicted score of ``draws`` uniformly random mixes with ``budget`` instances sent to people."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((draws, loaded.n), dtype=bool)
    for row in masks:
        row[rng.choice(loaded.n, size=budget, replace=False)] = True
    return float(np.mean(loaded.ppm.predict(loaded.builder.transform(masks))))


def end_scores(loaded: Loaded) -> tuple[float, float]:
    """(100% human, 100% LM) predicted scores."""
    ends = np.stack([np.ones(loaded.n, bool), np.zeros(loaded.n, bool)])
    human, lm = loaded.ppm.predict(loaded.builder.transform(ends))
    return float(human), float(lm)


@dataclass
class Curve:
    """Predicted score per budget share for routed and random mixes, and the two pure ends."""

    strategy: str
    n: int
    shares: list[float]
    routed: list[float]
    random: list[float]
    all_human: float
    all_lm: float
    measured: list[dict[str, Any]] = field(default_factory=list)


def budget_curve(loaded: Loaded, strategy: str, grid: tuple[float, ...] = GRID) -> Curve:
    """The curve over ``grid`` (shares of the instances); counts are rounded as the commands round them."""
    counts = [int(round(share * loaded.n)) for share in grid]
    human, lm = end_scores(loaded)
    return Curve(
        strategy,
        loaded.n,
        list(grid),
        [routed_score(loaded, b, strategy) for b in counts],
        [random_score(loaded, b) for b in counts],
        human,
        lm,
    )


def measured_points(summary: list[dict], objective: str = "heldout") -> list[dict[str, Any]]:
    """A routing experiment's measured means for one objective (the PPM's target), as (method, share, score);
    routed methods are named with their strategy, e.g. "routed (top_k)"."""
    points = []
    for row in summary or []:
        budget = row.get("budget")
        if row.get("objective", objective) != objective or row.get("mean") is None:
            continue
        if isinstance(budget, int | float) and 0 <= budget <= 1:
            method = str(row.get("method")) + (f" ({row['strategy']})" if row.get("strategy") else "")
            points.append({"method": method, "share": float(budget), "score": float(row["mean"])})
    return points


def _pyplot():
    """matplotlib's pyplot on the Agg backend (no display on a server), imported when a plot is drawn: a
    heavy library that a process which never draws (a worker, a management command) should not load."""
    import matplotlib

    matplotlib.use("Agg")  # must precede pyplot
    import matplotlib.pyplot as plt

    return plt


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    _pyplot().close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and doctype: the SVG is served on its own


def curve_svg(curve: Curve, picked: float | None = None) -> str:
    """The budget curve as SVG: routed, random, the two ends, measured points and the picked budget."""
    fig = _pyplot().figure(figsize=(7.5, 4.2))
    ax = fig.add_axes(AXES_BOX)
    x = [100 * s for s in curve.shares]
    ax.plot(x, curve.routed, "-o", ms=3, color="#2458d6", label=f"routed ({curve.strategy})")
    ax.plot(x, curve.random, "-s", ms=3, color="#98a2b3", label="random mix")
    ax.axhline(curve.all_human, ls="--", color="#067647", label="100% human")
    ax.axhline(curve.all_lm, ls=":", color="#b42318", label="100% LM")
    for method in sorted({p["method"] for p in curve.measured}):
        pts = [p for p in curve.measured if p["method"] == method]
        ax.scatter(
            [100 * p["share"] for p in pts],
            [p["score"] for p in pts],
            marker="x",
            zorder=5,
            label=f"measured: {method}",
        )
    if picked is not None:
        ax.axvline(100 * picked, color="#b54708", lw=1, label=f"picked: {100 * picked:.0f}%")
    ax.set_xlim(0, 100)
    ax.set_xlabel("human budget (% of instances)")
    ax.set_ylabel("predicted reward-model score")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return _svg(fig)


def tag_gains(loaded: Loaded, n: int = 100, trials: int = 10, seed: int = 0) -> list[dict[str, Any]]:
    """Per-tag gain (paper Table 12), as ``manage.py gain_report`` computes it with the same arguments."""
    return tag_gain_table(loaded.ppm, loaded.builder, np.random.default_rng(seed), n=n, trials=trials)


def gain_chart_svg(rows: list[dict[str, Any]], top: int = 15) -> str:
    """Horizontal bars of the ``top`` tags by gain per instance (paper Figure 5)."""
    shown = [r for r in rows if r["n"] and np.isfinite(r["gain"])][:top][::-1]
    fig = _pyplot().figure(figsize=(7.5, 0.32 * max(len(shown), 3) + 1.0))
    ax = fig.add_axes((0.42, 0.12, 0.55, 0.82))
    values = [1e3 * r["gain_per_instance"] for r in shown]
    ax.barh([r["tag"] for r in shown], values, color=["#2458d6" if v >= 0 else "#b42318" for v in values])
    ax.set_xlabel("gain per routed instance (x 1e-3)")
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig)
