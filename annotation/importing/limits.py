"""How much an import may read: the caps that keep one hostile or broken file from exhausting a worker.

Every cap is refused with a sentence that names the cap, its value and the setting that changes it, so an
operator with a legitimate large file knows what to raise. The values come from the environment through
``platform/settings.py`` (``IMPORT_LIMITS``); this module stays free of Django so the readers can use it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

MiB = 1024 * 1024

# The environment variable behind each cap (named in every refusal).
SETTING_NAMES = {
    "max_total_bytes": "HYBRIDPREF_IMPORT_MAX_TOTAL_BYTES",
    "max_record_bytes": "HYBRIDPREF_IMPORT_MAX_RECORD_BYTES",
    "max_field_bytes": "HYBRIDPREF_IMPORT_MAX_FIELD_BYTES",
    "max_depth": "HYBRIDPREF_IMPORT_MAX_DEPTH",
    "max_rows": "HYBRIDPREF_IMPORT_MAX_ROWS",
    "max_arrow_bytes": "HYBRIDPREF_IMPORT_MAX_ARROW_BYTES",
}


@dataclass(frozen=True)
class ImportLimits:
    """Caps on one import. Defaults are generous for real preference data (a response of a megabyte is
    already an outlier) and small enough that a 2 GB worker survives the worst file that passes them."""

    max_total_bytes: int = 2048 * MiB  # the file, and a Parquet file's decompressed data
    max_record_bytes: int = 16 * MiB  # one JSONL line, one JSON array item, one CSV row
    max_field_bytes: int = 2 * MiB  # one text field (UTF-8 bytes)
    max_depth: int = 64  # nesting of objects and arrays in one record
    max_rows: int = 5_000_000  # records in one file
    max_arrow_bytes: int = 1024 * MiB  # memory pyarrow may hold while a Parquet file is read

    @classmethod
    def from_mapping(cls, values: dict[str, Any] | None) -> ImportLimits:
        """Limits from a settings dict (unknown keys refused, so a typo does not silently keep a default)."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"IMPORT_LIMITS has unknown keys {unknown}; known keys: {sorted(known)}")
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"IMPORT_LIMITS[{name!r}] must be a positive integer, got {value!r}")
        return cls(**values)

    def describe(self, name: str) -> str:
        """'the record size limit of 16 MiB (HYBRIDPREF_IMPORT_MAX_RECORD_BYTES)': for refusals."""
        value = getattr(self, name)
        shown = _size(value) if name.endswith("_bytes") else f"{value:,}"
        label = {
            "max_total_bytes": "import size limit",
            "max_record_bytes": "record size limit",
            "max_field_bytes": "field size limit",
            "max_depth": "nesting depth limit",
            "max_rows": "record count limit",
            "max_arrow_bytes": "Parquet memory limit",
        }[name]
        return f"the {label} of {shown} (setting {SETTING_NAMES[name]})"


def _size(n: int) -> str:
    if n >= MiB and n % MiB == 0:
        return f"{n // MiB:,} MiB"
    return f"{n:,} bytes"


DEFAULT_LIMITS = ImportLimits()
