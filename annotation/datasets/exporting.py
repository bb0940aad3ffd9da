"""Export a dataset version: JSONL, Parquet, CSV and a Hugging Face ``datasets`` folder, with a dataset card.

Two forms (docs/METHOD.md, Hybrid dataset and export):

* ``pairwise`` - one row per non-tie instance: prompt, chosen, rejected, margin (from the strength), for
  reward-model and DPO training. Ties are dropped here, not in the version.
* ``full`` - one row per annotation (every human label, and the dataset's LM label) with the final label.

Every row carries the provenance columns (:data:`PROVENANCE_COLUMNS`). Rows are streamed from the database
in chunks and written chunk by chunk (Parquet: one row group per chunk; the HF folder: staged the same way, then
written by the ``datasets`` library, see :class:`_HfFolder`), so memory stays bounded whatever the size.
Output goes to ``<dir>.partial`` first and is renamed when complete: a crashed export leaves no half files.
"""

from __future__ import annotations

import csv
import json
import shutil
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from annotation.datasets.models import DatasetRow, DatasetVersion
from annotation.models import HumanLabel, LMLabel

FORMATS = ("jsonl", "parquet", "csv", "hf")
FORMS = ("pairwise", "full")
CHUNK = 2000
Progress = Callable[[int, int | None, str], None]

PROVENANCE_FIELDS: list[tuple[str, pa.DataType]] = [
    ("source", pa.string()),
    ("annotators", pa.list_(pa.string())),
    ("n_annotators", pa.int32()),
    ("agreement", pa.float64()),
    ("aggregation_method", pa.string()),
    ("routing_strategy", pa.string()),
    ("routing_run", pa.int64()),
    ("ppm_version", pa.string()),
    ("budget", pa.int64()),
    ("lm_model", pa.string()),
    ("lm_prompt_version", pa.string()),
    ("display_orders", pa.list_(pa.string())),
    ("dataset_version", pa.string()),
]
PROVENANCE_COLUMNS = [name for name, _ in PROVENANCE_FIELDS]

PAIRWISE_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("instance_id", pa.int64()),
        ("prompt", pa.string()),
        ("chosen", pa.string()),
        ("rejected", pa.string()),
        ("chosen_model", pa.string()),
        ("rejected_model", pa.string()),
        ("preference", pa.int8()),
        ("margin", pa.float64()),
        *PROVENANCE_FIELDS,
    ]
)
FULL_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("instance_id", pa.int64()),
        ("prompt", pa.string()),
        ("response_a", pa.string()),
        ("response_b", pa.string()),
        ("model_a", pa.string()),
        ("model_b", pa.string()),
        ("rater", pa.string()),
        ("rater_type", pa.string()),
        ("rater_preference", pa.int8()),
        ("rater_neither_valid", pa.bool_()),
        ("rater_excluded_from_aggregate", pa.bool_()),
        ("shown_order", pa.string()),
        ("time_ms", pa.int64()),
        ("final_preference", pa.int8()),
        ("final_margin", pa.float64()),
        *PROVENANCE_FIELDS,
    ]
)
SCHEMAS = {"pairwise": PAIRWISE_SCHEMA, "full": FULL_SCHEMA}

_ROW_FIELDS = (
    "instance_id",
    "preference",
    "strength",
    "source",
    "provenance",
    "instance__external_id",
    "instance__prompt",
    "instance__response_a",
    "instance__response_b",
    "instance__model_a",
    "instance__model_b",
)


class ExportError(ValueError):
    """The export cannot run as asked; the message names the parameter."""


# ------------------------------------------------------------------------------------------- records


def _provenance(row: dict[str, Any], version: DatasetVersion) -> dict[str, Any]:
    prov = row["provenance"]
    return {
        "source": row["source"],
        "annotators": [str(a) for a in prov.get("annotators") or []],
        "n_annotators": prov.get("n_annotators"),
        "agreement": prov.get("agreement"),
        "aggregation_method": prov.get("aggregation_method"),
        "routing_strategy": prov.get("routing_strategy"),
        "routing_run": prov.get("routing_run"),
        "ppm_version": prov.get("ppm_version"),
        "budget": prov.get("budget"),
        "lm_model": prov.get("lm_model"),
        "lm_prompt_version": prov.get("lm_prompt_version"),
        "display_orders": list(prov.get("display_orders") or []),
        "dataset_version": version.name,
    }


def _row_chunks(version: DatasetVersion, pairwise: bool, chunk_size: int) -> Iterator[list[dict[str, Any]]]:
    query = DatasetRow.objects.filter(version=version)
    if pairwise:
        query = query.exclude(preference=0)
    rows = query.order_by("id").values(*_ROW_FIELDS).iterator(chunk_size=chunk_size)
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= chunk_size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def pairwise_records(version: DatasetVersion, chunk_size: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    """Chunks of chosen/rejected rows; ties dropped; margin = strength of the final label."""
    for chunk in _row_chunks(version, True, chunk_size):
        out = []
        for row in chunk:
            b_wins = row["preference"] > 0
            a, b = row["instance__response_a"], row["instance__response_b"]
            ma, mb = row["instance__model_a"], row["instance__model_b"]
            out.append(
                {
                    "id": row["instance__external_id"],
                    "instance_id": row["instance_id"],
                    "prompt": row["instance__prompt"],
                    "chosen": b if b_wins else a,
                    "rejected": a if b_wins else b,
                    "chosen_model": mb if b_wins else ma,
                    "rejected_model": ma if b_wins else mb,
                    "preference": row["preference"],
                    "margin": float(row["strength"]),
                    **_provenance(row, version),
                }
            )
        yield out


def full_records(version: DatasetVersion, chunk_size: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    """Chunks of per-annotation rows: every human label of each instance, then the dataset's LM label."""
    judge = version.params.get("lm_model")
    prompt_version = version.params.get("lm_prompt_version")
    for chunk in _row_chunks(version, False, chunk_size):
        ids = [row["instance_id"] for row in chunk]
        humans: dict[int, list[dict[str, Any]]] = {}
        for label in (
            HumanLabel.objects.filter(instance_id__in=ids)
            .order_by("instance_id", "id")
            .values("instance_id", "annotator_ref", "preference", "neither_valid", "shown_swapped", "time_ms")
        ):
            humans.setdefault(label["instance_id"], []).append(label)
        lm: dict[int, int] = {}
        if judge:
            lm = dict(
                LMLabel.objects.filter(
                    instance_id__in=ids, judge=judge, prompt_version=prompt_version or ""
                ).values_list("instance_id", "preference")
            )
        out = []
        for row in chunk:
            base = {
                "id": row["instance__external_id"],
                "instance_id": row["instance_id"],
                "prompt": row["instance__prompt"],
                "response_a": row["instance__response_a"],
                "response_b": row["instance__response_b"],
                "model_a": row["instance__model_a"],
                "model_b": row["instance__model_b"],
                "final_preference": row["preference"],
                "final_margin": float(row["strength"]),
                **_provenance(row, version),
            }
            used = set(row["provenance"].get("annotators") or []) if row["source"] == "human" else None
            human_inputs = row["provenance"].get("routed_to") == "human"
            for label in humans.get(row["instance_id"], []):
                out.append(
                    {
                        **base,
                        "rater": label["annotator_ref"],
                        "rater_type": "human",
                        "rater_preference": label["preference"],
                        "rater_neither_valid": label["neither_valid"],
                        "rater_excluded_from_aggregate": bool(
                            human_inputs and used is not None and label["annotator_ref"] not in used
                        ),
                        "shown_order": "BA" if label["shown_swapped"] else "AB",
                        "time_ms": label["time_ms"],
                    }
                )
            if row["instance_id"] in lm:
                out.append(
                    {
                        **base,
                        "rater": judge,
                        "rater_type": "lm",
                        "rater_preference": lm[row["instance_id"]],
                        "rater_neither_valid": False,
                        "rater_excluded_from_aggregate": False,
                        "shown_order": None,
                        "time_ms": None,
                    }
                )
        yield out


RECORDS = {"pairwise": pairwise_records, "full": full_records}


# ------------------------------------------------------------------------------------------- writers

# A spreadsheet runs a cell that starts with one of these as a formula ("=HYPERLINK(...)" in a response).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A CSV cell: lists as JSON; text a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, list):
        value = json.dumps(value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _HfFolder:
    """A ``datasets.load_from_disk`` folder written by the ``datasets`` library itself.

    Chunks go to a staging Parquet file (one row group each, bounded memory); on close the library reads it
    (``Dataset.from_parquet``, memory-mapped Arrow) and writes the folder with ``save_to_disk``, so the layout
    and its metadata are whatever the pinned ``datasets`` version reads back. The staging file and the
    library's cache live beside the target and are removed afterwards.
    """

    def __init__(self, target: Path, schema: pa.Schema, max_shard_size: str = "500MB"):
        # datasets is heavy (pandas, fsspec): only a process that writes this form loads it.
        from datasets import Features

        self.target = target
        self.features = Features.from_arrow_schema(schema)
        self.max_shard_size = max_shard_size
        self._staging = target.with_name(f".{target.name}.parquet")
        self._cache = target.with_name(f".{target.name}.cache")
        self._writer = pq.ParquetWriter(self._staging, schema)

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table)

    def close(self) -> None:
        from datasets import Dataset

        self._writer.close()
        try:
            dataset = Dataset.from_parquet(
                str(self._staging), features=self.features, cache_dir=str(self._cache)
            )
            dataset.save_to_disk(str(self.target), max_shard_size=self.max_shard_size)
        finally:
            self._staging.unlink(missing_ok=True)
            shutil.rmtree(self._cache, ignore_errors=True)


class _Writers:
    """The writers of one form, fed chunk by chunk."""

    def __init__(self, directory: Path, form: str, formats: set[str]):
        self.schema = SCHEMAS[form]
        self.paths: dict[str, Path] = {}
        self._jsonl = self._csv_file = self._csv = self._parquet = self._hf = None
        if "jsonl" in formats:
            self.paths["jsonl"] = directory / f"{form}.jsonl"
            self._jsonl = self.paths["jsonl"].open("w", encoding="utf-8")
        if "csv" in formats:
            self.paths["csv"] = directory / f"{form}.csv"
            self._csv_file = self.paths["csv"].open("w", encoding="utf-8", newline="")
            self._csv = csv.DictWriter(self._csv_file, fieldnames=self.schema.names)
            self._csv.writeheader()
        if "parquet" in formats:
            self.paths["parquet"] = directory / f"{form}.parquet"
            self._parquet = pq.ParquetWriter(self.paths["parquet"], self.schema)
        if "hf" in formats:
            self.paths["hf"] = directory / f"hf_{form}"
            self._hf = _HfFolder(self.paths["hf"], self.schema)

    def write(self, records: list[dict[str, Any]]) -> None:
        if self._jsonl is not None:
            self._jsonl.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        if self._csv is not None:
            self._csv.writerows({k: csv_cell(v) for k, v in r.items()} for r in records)
        if records and (self._parquet is not None or self._hf is not None):
            table = pa.Table.from_pylist(records, schema=self.schema)
            if self._parquet is not None:
                self._parquet.write_table(table)
            if self._hf is not None:
                self._hf.write(table)

    def close(self) -> None:
        for handle in (self._jsonl, self._csv_file, self._parquet, self._hf):
            if handle is not None:
                handle.close()

    def files(self) -> list[str]:
        return [f"{p.name}/" if fmt == "hf" else p.name for fmt, p in self.paths.items()]


def export_version(
    version: DatasetVersion,
    out_dir: Path,
    formats: tuple[str, ...] | list[str] = FORMATS,
    forms: tuple[str, ...] | list[str] = FORMS,
    chunk_size: int = CHUNK,
    progress: Progress | None = None,
    archive: bool = True,
) -> dict[str, Any]:
    """Write the version in the given formats and forms under ``out_dir`` with a dataset card beside them.

    Returns {"dir", "files", "rows": {form: count}, "archive"}. An existing ``out_dir`` is replaced (a re-run
    of a killed task starts over and ends with the same files).
    """
    unknown = set(formats) - set(FORMATS)
    if unknown or not formats:
        raise ExportError(f"formats: {sorted(unknown) or 'none given'}; expected some of {FORMATS}")
    unknown = set(forms) - set(FORMS)
    if unknown or not forms:
        raise ExportError(f"forms: {sorted(unknown) or 'none given'}; expected some of {FORMS}")
    out_dir = Path(out_dir)
    partial = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    expected = {"pairwise": version.counts.get("pairwise_rows"), "full": None}
    rows: dict[str, int] = {}
    files: list[str] = []
    for form in forms:
        writers = _Writers(partial, form, set(formats))
        rows[form] = 0
        try:
            for records in RECORDS[form](version, chunk_size):
                writers.write(records)
                rows[form] += len(records)
                if progress:
                    progress(rows[form], expected[form], f"{form}: {rows[form]} rows written")
        finally:
            writers.close()
        files += writers.files()
    card = dataset_card(version, rows, sorted(files), formats, forms)
    (partial / "dataset_card.json").write_text(json.dumps(card, indent=2, default=str))
    (partial / "dataset_card.md").write_text(card_markdown(card))
    files += ["dataset_card.json", "dataset_card.md"]
    if out_dir.exists():
        shutil.rmtree(out_dir)
    partial.rename(out_dir)
    result: dict[str, Any] = {"dir": str(out_dir), "files": sorted(files), "rows": rows, "archive": None}
    if archive:
        result["archive"] = str(make_archive(out_dir))
    if progress:
        progress(sum(rows.values()), sum(rows.values()), "export written")
    return result


def make_archive(directory: Path) -> Path:
    """``<directory>.zip`` holding the export folder (written file by file: bounded memory)."""
    target = directory.with_suffix(".zip")
    partial = directory.with_name(directory.name + ".zip.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.write(path, Path(directory.name) / path.relative_to(directory))
    partial.replace(target)
    return target


# --------------------------------------------------------------------------------------------- card


def dataset_card(
    version: DatasetVersion, rows: dict[str, int], files: list[str], formats: Any, forms: Any
) -> dict[str, Any]:
    counts = version.counts
    params = version.params
    return {
        "name": version.name,
        "project": version.project.name,
        "created_at": version.created_at.isoformat(),
        "mode": version.mode,
        "counts": {
            "instances": counts.get("instances"),
            "rows": counts.get("rows"),
            "human": counts.get("human"),
            "lm": counts.get("lm"),
            "ties": counts.get("ties"),
            "human_routed": counts.get("human_routed"),
            "human_dropped_fell_back_or_unlabelled": counts.get("human_dropped"),
            "unlabelled": counts.get("unlabelled"),
            "exported_rows": rows,
        },
        "human_share": counts.get("human_share"),
        "agreement": {
            "mean_human_input_agreement": counts.get("mean_human_agreement"),
            "mean_human_input_agreement_rows": counts.get("mean_human_agreement_rows"),
            "human_single_vote_rows": counts.get("human_single_vote_rows"),
            "human_lm_direction_agreement": counts.get("human_lm_agreement"),
            "human_lm_compared": counts.get("human_lm_compared"),
        },
        "aggregation_method": params.get("aggregation_method"),
        "lm": {"model": params.get("lm_model"), "prompt_version": params.get("lm_prompt_version")},
        "routing": {
            "strategy": params.get("routing_strategy"),
            "run": params.get("routing_run"),
            "ppm_version": params.get("ppm_version"),
            "budget": params.get("budget"),
        },
        "formats": list(formats),
        "forms": list(forms),
        "files": files,
        "provenance_columns": PROVENANCE_COLUMNS,
        "notes": [
            "pairwise: ties dropped; chosen/rejected in canonical terms; margin = strength of the final label",
            "full: one row per human annotation and one for the LM label; display order as shown_order",
            "final label = human aggregate where routed to people and it survived aggregation, else the LM label",
        ],
    }


def _input_agreement_line(agreement: dict[str, Any], pct) -> str:
    """Agreement of the human inputs with their aggregate, over multi-vote rows only (a lone vote always
    agrees with itself and would lift the figure towards 100%), saying how many rows it covers."""
    value = pct(agreement["mean_human_input_agreement"])
    rows = agreement.get("mean_human_input_agreement_rows")
    if rows is None:  # a version built before the figure said what it covers
        return f"- mean agreement of the human inputs with their aggregate: {value}"
    single = agreement.get("human_single_vote_rows") or 0
    left_out = f"; {single} single-vote human rows left out" if single else ""
    return (
        f"- mean agreement of the human inputs with their aggregate, over the {rows} human rows with two or "
        f"more votes: {value}{left_out}"
    )


def card_markdown(card: dict[str, Any]) -> str:
    def pct(value: Any) -> str:
        return "n/a" if value is None else f"{100 * value:.1f}%"

    counts = card["counts"]
    lines = [
        f"# Dataset card: {card['project']} / {card['name']}",
        "",
        f"Created {card['created_at']} (mode: {card['mode']}).",
        "",
        "## Counts",
        "",
        "| what | count |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in counts.items() if k != "exported_rows"),
        *(f"| exported {form} rows | {n} |" for form, n in counts["exported_rows"].items()),
        "",
        f"Human share of labels: {pct(card['human_share'])}.",
        "",
        "## Agreement",
        "",
        _input_agreement_line(card["agreement"], pct),
        f"- human aggregate vs LM label (direction), on {card['agreement']['human_lm_compared']} human rows: "
        f"{pct(card['agreement']['human_lm_direction_agreement'])}",
        "",
        "## How labels were made",
        "",
        f"- aggregation method: {card['aggregation_method']}",
        f"- LM judge: {card['lm']['model']} (prompt version {card['lm']['prompt_version'] or 'n/a'})",
        f"- routing: strategy {card['routing']['strategy']}, run {card['routing']['run']}, "
        f"PPM {card['routing']['ppm_version']}, budget {card['routing']['budget']}",
        "",
        "## Files",
        "",
        *(f"- `{name}`" for name in card["files"]),
        "",
        "Provenance columns on every row: " + ", ".join(f"`{c}`" for c in card["provenance_columns"]) + ".",
        "",
        *(f"- {note}" for note in card["notes"]),
        "",
    ]
    return "\n".join(lines)
