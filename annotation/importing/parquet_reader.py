"""Parquet read in small record batches, checked against the caps before any value becomes a Python object.

Parquet compresses well enough that a 10 KB file can hold a 300 MB string. Three checks keep that out:
1. the file's metadata, before any data page is read: the row count, the decompressed size of the whole
   file, and for each column chunk its decompressed size per row (one row of a 300 MB column chunk is
   refused here, unread);
2. each batch of rows, after pyarrow decoded it and before ``to_pylist``: the longest text of each text
   column against the field cap (this catches a large value hidden among many small ones);
3. the memory pyarrow holds after each batch, against its own cap.
Check 2 runs after pyarrow decoded one batch, so the worst file that passes check 1 costs one batch of memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from annotation.importing.errors import DatasetImportError
from annotation.importing.limits import ImportLimits
from annotation.importing.lines import ReadPosition

BATCH_ROWS = 256


def read_parquet(
    path: Path, fmt: str, position: ReadPosition, limits: ImportLimits
) -> Iterator[tuple[str, Any]]:
    """Yield ("row N", record) for each row, each batch checked before its values become Python objects."""
    parquet = _open(path)
    _check_metadata(parquet.metadata, path, limits)
    row = 0
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
        _check_batch(batch, path, row, limits)
        for record in batch.to_pylist():
            row += 1
            yield f"row {row}", record
        position.bytes_read = round(position.total_bytes * row / max(parquet.metadata.num_rows, 1))
        _check_arrow_memory(path, row, limits)


def _open(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except Exception as error:  # pyarrow raises several types for a damaged file
        raise DatasetImportError(f"not a readable Parquet file: {error}", file=path.name) from None


def _check_metadata(metadata: pq.FileMetaData, path: Path, limits: ImportLimits) -> None:
    if metadata.num_rows > limits.max_rows:
        raise DatasetImportError(
            f"the file holds {metadata.num_rows:,} rows, more than {limits.describe('max_rows')}",
            file=path.name,
        )
    total = 0
    for group_index in range(metadata.num_row_groups):
        group = metadata.row_group(group_index)
        for column_index in range(group.num_columns):
            column = group.column(column_index)
            size = column.total_uncompressed_size
            total += size
            per_row = size / max(group.num_rows, 1)
            if per_row > limits.max_field_bytes:
                raise DatasetImportError(
                    f"column {column.path_in_schema!r} decompresses to {size:,} bytes for {group.num_rows:,} "
                    f"rows, more per row than {limits.describe('max_field_bytes')}; nothing was read",
                    file=path.name,
                    location=f"row group {group_index + 1}",
                )
    if total > limits.max_total_bytes:
        raise DatasetImportError(
            f"the file decompresses to {total:,} bytes, more than {limits.describe('max_total_bytes')}; "
            "nothing was read",
            file=path.name,
        )


def _check_batch(batch: pa.RecordBatch, path: Path, rows_before: int, limits: ImportLimits) -> None:
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if not _is_text(column.type):
            continue
        longest = pc.max(pc.binary_length(column)).as_py() or 0
        if longest > limits.max_field_bytes:
            first = rows_before + 1
            raise DatasetImportError(
                f"a value of column {name!r} holds {longest:,} bytes, more than "
                f"{limits.describe('max_field_bytes')}",
                file=path.name,
                location=f"rows {first}-{first + batch.num_rows - 1}",
            )


def _is_text(kind: pa.DataType) -> bool:
    return any(
        check(kind)
        for check in (
            pa.types.is_string,
            pa.types.is_large_string,
            pa.types.is_binary,
            pa.types.is_large_binary,
        )
    )


def _check_arrow_memory(path: Path, row: int, limits: ImportLimits) -> None:
    used = pa.total_allocated_bytes()
    if used > limits.max_arrow_bytes:
        raise DatasetImportError(
            f"reading the file made pyarrow hold {used:,} bytes, more than {limits.describe('max_arrow_bytes')}",
            file=path.name,
            location=f"row {row}",
        )
