"""Import a one-line JSON array of 10 MB and of 100 MB with the real command; time and peak memory of each.

Each import runs ``manage.py import_instances`` in its own process on a fresh SQLite database (migrated once,
then copied) in a temporary data directory, as an operator would run it; a one-record import is measured
first as the baseline. Peak memory is that process's maximum resident set size (``os.wait4``).

The last line is the ratio of the 100 MB time to the 10 MB time (linear is 10; the reader before ijson gave
about 60 per doubling) and the peak RSS. The ratio uses the process's CPU time (user + system): on a machine
shared with other work the wall time moves with their load, the CPU time much less; both are printed.

    .venv/bin/python bench/import_json.py [--sizes 10,100]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024


def record(i: int) -> dict:
    """About 1 KB, shaped like a preference dataset row with votes and an LM label."""
    return {
        "id": f"item-{i}",
        "prompt": f"Question {i}: explain the difference between the two approaches in detail. " * 3,
        "response_a": f"Answer A to {i}. " + "The first approach trades memory for speed. " * 8,
        "response_b": f"Answer B to {i}. " + "The second approach streams the input instead. " * 8,
        "human_labels": [{"annotator": f"a{k}", "label": "AB"[(i + k) % 2]} for k in range(3)],
        "lm_labels": {"judge": "A" if i % 3 else "B"},
        "category": ["open_qa", "coding", "math"][i % 3],
    }


def write_array(path: Path, size_mb: int) -> int:
    """A one-line JSON array of about ``size_mb`` MiB; returns the number of records."""
    target = size_mb * MiB
    written = count = 0
    with path.open("w") as fh:
        fh.write("[")
        while written < target:
            text = ("," if count else "") + json.dumps(record(count))
            fh.write(text)
            written += len(text)
            count += 1
        fh.write("]")
    return count


def environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"}}
    env.update(
        HYBRIDPREF_ENV="dev", HYBRIDPREF_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1"
    )
    return env


def run(args: list[str], data_dir: Path) -> tuple[float, float, int, str]:
    """(wall seconds, CPU seconds, peak RSS in bytes, output) of one manage.py process."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=environment(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    output = process.stdout.read().decode() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed ({process.returncode}):\n{output}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, output


def import_array(tmp: Path, base: Path, size: int) -> tuple[float, float, int]:
    """Import a fresh one-line array of ``size`` MiB into a copy of the migrated database."""
    data_dir = tmp / f"run-{size}"
    shutil.copytree(base, data_dir)
    path = tmp / f"array-{size}mb.json"
    count = write_array(path, size)
    seconds, cpu, rss, output = run(["import_instances", f"bench{size}", str(path)], data_dir)
    if f"Wrote {count} new instances" not in output:
        raise SystemExit(f"the {size} MB import did not write {count} instances:\n{output}")
    print(
        f"{size:>4} MiB one-line array, {count:,} records: {seconds:6.1f} s wall, {cpu:6.1f} s CPU, "
        f"{count / cpu:,.0f} records per CPU second, peak RSS {rss / MiB:.0f} MiB",
        flush=True,
    )
    path.unlink()
    shutil.rmtree(data_dir)
    return seconds, cpu, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100", help="array sizes in MiB, comma-separated")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-import-") as folder:
        tmp = Path(folder)
        base = tmp / "base"
        base.mkdir()
        run(["migrate", "-v0"], base)
        baseline = tmp / "one.json"
        baseline.write_text(json.dumps([record(0)]))
        seconds, cpu, rss, _ = run(["import_instances", "baseline", str(baseline)], base)
        print(f"baseline, one record: {seconds:.1f} s wall, {cpu:.1f} s CPU, peak RSS {rss / MiB:.0f} MiB")
        results = {size: import_array(tmp, base, size) for size in sizes}
    small, large = min(sizes), max(sizes)
    wall = results[large][0] / results[small][0]
    ratio = results[large][1] / results[small][1]
    peak = max(rss for _, _, rss in results.values())
    print(
        f"time ratio {large} MB / {small} MB: {ratio:.2f} CPU ({wall:.2f} wall; linear: {large / small:.0f}); "
        f"peak RSS {peak / MiB:.0f} MiB"
    )


if __name__ == "__main__":
    main()
