"""Benchmark: a large synthetic project exports with bounded memory.

    .venv/bin/python bench/export.py                    # 100,000 instances, every format and form
    .venv/bin/python bench/export.py --instances 10000  # a smaller run, to compare peak RSS across sizes

Builds a throw-away project (own data directory and SQLite database, 3 human votes + 1 LM label per
instance), assembles a hybrid dataset version (half the instances routed to people), exports it in JSONL,
Parquet, CSV and a Hugging Face folder in the pairwise and per-annotation forms, and prints the resident-set
size sampled every 20 ms in each phase. The last line compares the export's peak RSS growth with the size
of the data it wrote: bounded memory means the growth stays flat while the data grows with the project.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mib(field: str = "VmRSS") -> float:
    """A resident-set figure of this process in MiB: VmRSS (all), RssAnon (heap), RssFile (mapped files)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


class PeakRSS:
    """Samples VmRSS in a thread; ``peak`` is the largest value seen while the block ran."""

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.start = self.peak = self.anon_start = self.anon_peak = 0.0
        self._stop = threading.Event()

    def __enter__(self) -> PeakRSS:
        self.start = self.peak = rss_mib()
        self.anon_start = self.anon_peak = rss_mib("RssAnon")
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self.t0 = time.perf_counter()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_mib())
            self.anon_peak = max(self.anon_peak, rss_mib("RssAnon"))

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mib())
        self.anon_peak = max(self.anon_peak, rss_mib("RssAnon"))
        self.seconds = time.perf_counter() - self.t0


def setup_django(data_dir: Path) -> None:
    os.environ["HYBRIDPREF_ENV"] = "dev"
    os.environ["HYBRIDPREF_DATA_DIR"] = str(data_dir)
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "platform.settings")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import django

    import platform_compat  # noqa: F401

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _text(rng: random.Random, words: list[str], n: int) -> str:
    return " ".join(rng.choices(words, k=n))


def populate(n: int, response_words: int, seed: int = 0) -> object:
    from annotation.models import HumanLabel, Instance, LMLabel, Project

    rng = random.Random(seed)
    words = [f"w{i}" for i in range(2000)] + ["the", "a", "response", "model", "because", "and"]
    project = Project.objects.create(name="bench-export")
    batch = 5000
    for start in range(0, n, batch):
        rows = [
            Instance(
                project=project,
                external_id=f"syn-{i}",
                prompt=_text(rng, words, 30),
                response_a=_text(rng, words, response_words),
                response_b=_text(rng, words, response_words),
                model_a="model-a",
                model_b="model-b",
                metadata={"category": f"c{i % 10}"},
            )
            for i in range(start, min(n, start + batch))
        ]
        created = Instance.objects.bulk_create(rows)
        labels, lm = [], []
        for instance in created:
            truth = rng.choice([-2, -1, 1, 2])
            for j in range(3):
                pref = truth if rng.random() < 0.7 else rng.choice([-2, -1, 0, 1, 2])
                swapped = bool((instance.pk + j) % 2)
                labels.append(
                    HumanLabel(
                        instance=instance,
                        annotator_ref=f"ann{rng.randrange(40)}-{j}",
                        preference=pref,
                        shown_swapped=swapped,
                        time_ms=rng.randrange(5000, 90000),
                        source="imported",
                    )
                )
            lm.append(
                LMLabel(
                    instance=instance,
                    judge="synthetic-judge",
                    prompt_version="v1",
                    preference=truth if rng.random() < 0.75 else -truth,
                )
            )
        HumanLabel.objects.bulk_create(labels, batch_size=2000)
        LMLabel.objects.bulk_create(lm, batch_size=2000)
    return project


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--response-words", type=int, default=40, help="Words per response (default 40).")
    parser.add_argument("--formats", default="jsonl,parquet,csv,hf")
    parser.add_argument("--forms", default="pairwise,full")
    parser.add_argument("--keep", action="store_true", help="Keep the data directory.")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="hybridpref-bench-export-"))
    setup_django(data_dir)
    import datasets  # imported up front: its import cost (~100 MiB of libraries) is not export memory

    from annotation.datasets.exporting import export_version
    from annotation.datasets.services import build_dataset_version

    datasets.disable_progress_bars()
    baseline = rss_mib()
    print(
        f"instances {args.instances:,}, data dir {data_dir}, RSS after set-up and imports {baseline:.0f} MiB"
    )
    with PeakRSS() as populate_rss:
        project = populate(args.instances, args.response_words)
    db_mib = (data_dir / "hybridpref.sqlite3").stat().st_size / 2**20
    print(
        f"populate: {populate_rss.seconds:.1f} s, database {db_mib:.0f} MiB, peak RSS {populate_rss.peak:.0f} MiB"
    )
    ids = list(project.instances.values_list("pk", flat=True))
    human = ids[::2]
    with PeakRSS() as build_rss:
        version = build_dataset_version(
            project, "bench-v1", human_instance_ids=human, judge="synthetic-judge"
        )
    del ids, human
    print(
        f"build version: {build_rss.seconds:.1f} s, rows {version.counts['rows']:,} "
        f"(human {version.counts['human']:,}, LM {version.counts['lm']:,}, ties {version.counts['ties']:,}), "
        f"RSS {build_rss.start:.0f} -> peak {build_rss.peak:.0f} MiB"
    )
    out = data_dir / "exports" / "bench-v1"
    with PeakRSS() as export_rss:
        result = export_version(
            version, out, formats=args.formats.split(","), forms=args.forms.split(","), archive=False
        )
    written = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
    print(
        f"export: {export_rss.seconds:.1f} s, rows {result['rows']}, {written:.0f} MiB written, "
        f"RSS {export_rss.start:.0f} -> peak {export_rss.peak:.0f} MiB "
        f"(anonymous/heap {export_rss.anon_start:.0f} -> {export_rss.anon_peak:.0f} MiB; the rest is file-backed "
        "pages: libraries and mapped files)"
    )
    for path in sorted(out.iterdir()):
        size = sum(p.stat().st_size for p in path.rglob("*")) if path.is_dir() else path.stat().st_size
        print(f"  {path.name}: {size / 2**20:.1f} MiB")
    growth = export_rss.peak - export_rss.start
    heap = export_rss.anon_peak - export_rss.anon_start
    print(
        f"comparison: export peak RSS {export_rss.peak:.0f} MiB (+{growth:.0f} MiB, heap +{heap:.0f} MiB) for "
        f"{written:.0f} MiB of exported data from a {db_mib:.0f} MiB database "
        f"({args.instances:,} instances): heap growth = {heap / written:.2f} x data written"
    )
    if not args.keep:
        import shutil

        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
