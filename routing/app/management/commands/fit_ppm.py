"""Fit a PPM from a table of candidate feature vectors and measured scores, evaluate it held out, register it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from routing.app.management.commands._common import get_project
from routing.app.services import register_ppm
from routing.ppm import KINDS, PPM


def read_table(path: Path):
    import pandas as pd

    if not path.is_file():
        raise CommandError(f"{path} does not exist")
    if path.suffix.lower() in {".parquet", ".pq"}:
        return pd.read_parquet(path)
    if path.suffix.lower() in {".csv", ".txt"}:
        return pd.read_csv(path)
    raise CommandError(f"{path}: expected a .csv or .parquet file")


class Command(BaseCommand):
    help = "Fit a performance prediction model on candidate feature vectors + measured scores (CSV/Parquet)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("table", help="CSV or Parquet: one row per candidate, feature columns + target.")
        parser.add_argument("--name", required=True, help="Artifact name (slug).")
        parser.add_argument("--kind", choices=KINDS, default="quadratic")
        parser.add_argument("--mode", choices=["recommended", "paper"], default="recommended")
        parser.add_argument("--target", default="score", help="Target column (default: score).")
        parser.add_argument(
            "--exclude", nargs="*", default=[], help="Columns that are neither features nor target."
        )
        parser.add_argument("--split-column", help="Column with 'train'/'test' values (else a random split).")
        parser.add_argument("--test-fraction", type=float, default=0.2)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--project", help="Project the candidates come from (recorded).")
        parser.add_argument("--tag-versions", help="JSON {tag: version} of the features (recorded).")
        parser.add_argument("--out-dir", help="Where the artifact is written (default: ARTIFACT_DIR/ppm).")

    def handle(self, *args, **opts) -> None:
        path = Path(opts["table"])
        df = read_table(path)
        target = opts["target"]
        if target not in df.columns:
            raise CommandError(f"{path}: no target column {target!r} (columns: {list(df.columns)[:10]}...)")
        drop = {target, *opts["exclude"], *([opts["split_column"]] if opts["split_column"] else [])}
        features = [c for c in df.columns if c not in drop]
        bad = [c for c in features if not np.issubdtype(df[c].dtype, np.number) and df[c].dtype != bool]
        if bad:
            raise CommandError(f"{path}: non-numeric feature columns {bad[:5]}; pass them with --exclude")
        X = df[features].to_numpy(dtype=np.float64)
        y = df[target].to_numpy(dtype=np.float64)
        if opts["split_column"]:
            split = df[opts["split_column"]].astype(str).str.lower()
            test = (split == "test").to_numpy()
        else:
            rng = np.random.default_rng(opts["seed"])
            n_test = max(1, int(round(opts["test_fraction"] * len(y)))) if len(y) >= 5 else 0
            test = np.zeros(len(y), bool)
            test[rng.permutation(len(y))[:n_test]] = True
        if (~test).sum() < 2:
            raise CommandError(f"{path}: only {(~test).sum()} training rows")
        ppm = PPM(opts["kind"], mode=opts["mode"], random_state=opts["seed"])
        ppm.fit(X[~test], y[~test], features)
        metrics = ppm.evaluate(X[test], y[test]) if test.any() else {}
        try:
            versions = json.loads(opts["tag_versions"]) if opts["tag_versions"] else {}
        except json.JSONDecodeError as error:
            raise CommandError(f"--tag-versions: not JSON: {error}") from error
        project = get_project(opts["project"]) if opts["project"] else None
        artifact = register_ppm(
            ppm,
            opts["name"],
            project=project,
            out_dir=opts["out_dir"],
            training_data_ref=str(path.resolve()),
            tag_versions=versions,
            seed=opts["seed"],
            n_test=int(test.sum()),
        )
        self.stdout.write(
            f"PPM {artifact.name!r} ({ppm.kind}, {artifact.mode}): {int((~test).sum())} train / {int(test.sum())} "
            f"held-out rows, spearman {metrics.get('spearman', float('nan')):.3f}, "
            f"rmse {metrics.get('rmse', float('nan')):.4f} -> {artifact.path}"
        )
