"""Per-tag gain table (paper Table 12): route n random instances carrying each tag, gain = f(v) - f(0)."""

from __future__ import annotations

import csv
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from routing.app.management.commands._common import get_ppm, get_project
from routing.app.services import RoutingError, gain_report

COLUMNS = ["tag", "group", "carriers", "n", "gain", "gain_per_instance"]


class Command(BaseCommand):
    help = "Per-tag gain report of a project under a PPM, printed and written as CSV."

    def add_arguments(self, parser) -> None:
        parser.add_argument("project")
        parser.add_argument("--ppm", required=True)
        parser.add_argument("--n", type=int, default=100, help="Instances routed per tag (paper: 100).")
        parser.add_argument("--trials", type=int, default=10)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--out", help="CSV path (default: gain_<project>_<ppm>.csv here).")

    def handle(self, *args, **opts) -> None:
        project = get_project(opts["project"])
        artifact = get_ppm(opts["ppm"])
        try:
            rows = gain_report(project, artifact, opts["n"], opts["trials"], opts["seed"])
        except RoutingError as error:
            raise CommandError(str(error)) from error
        out = Path(opts["out"] or f"gain_{project.name}_{artifact.name}.csv")
        with out.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        self.stdout.write(f"{'tag':<52s} {'n':>4s} {'gain x1e-3':>12s} {'gain/n x1e-3':>13s}")
        for r in rows:
            self.stdout.write(
                f"{r['tag']:<52s} {r['n']:>4d} {1e3 * r['gain']:>12.4f} {1e3 * r['gain_per_instance']:>13.5f}"
            )
        self.stdout.write(f"written to {out}")
