"""Stage files of MinHash: self-describing Parquet, each carrying its settings and its task's counters in
the schema metadata.

Tasks read only what they need: the columns they use, and (for files sorted by a key) only the row groups
whose key range overlaps theirs, chosen from the row-group statistics in the footer. On S3 a file is opened
with ranged GETs, so a task that needs two columns of a file fetches the footer and those column chunks, not
the whole object."""

from __future__ import annotations

import io as stdio
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from dolma import io
from dolma.errors import InputError
from dolma.executors import RunSummary, Task

ROW_GROUP_ROWS = 65_536
"""Rows per row group of stage files: small enough that reading a key range or a few rows wastes little,
large enough that footers stay small."""


def pyarrow_modules() -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pa, pq


def write_table(path: str, columns: dict[str, Any], meta: dict[str, Any]) -> None:
    """Write ``columns`` with ``meta`` (settings and counters) in the schema metadata."""
    pa, pq = pyarrow_modules()
    table = pa.table(columns).replace_schema_metadata({b"dolma": json.dumps(meta, sort_keys=True).encode()})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd", row_group_size=ROW_GROUP_ROWS)
    io.write_bytes(path, sink.getvalue().to_pybytes())


def write_sorted(path: str, key: str, columns: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Write numpy ``columns`` sorted by the column ``key``, so readers of a key range (see :func:`read_range`)
    skip the row groups outside it."""
    order = np.argsort(columns[key], kind="stable")
    write_table(path, {name: values[order] for name, values in columns.items()}, meta)


class _RangedS3File(stdio.RawIOBase):
    """A seekable read-only S3 object: every read is one ranged GET, so Parquet reads fetch only the footer
    and the column chunks asked for (pyarrow coalesces neighbouring chunks into one request)."""

    def __init__(self, path: str) -> None:
        self.bucket, self.key = io.split_s3(path)
        self.client = io.s3_client()
        self.size = int(self.client.head_object(Bucket=self.bucket, Key=self.key)["ContentLength"])
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.position, 2: self.size}[whence]
        self.position = base + offset
        return self.position

    def read(self, size: int = -1) -> bytes:
        end = self.size if size is None or size < 0 else min(self.size, self.position + size)
        if end <= self.position:
            return b""
        body = self.client.get_object(Bucket=self.bucket, Key=self.key, Range=f"bytes={self.position}-{end - 1}")
        data: bytes = body["Body"].read()
        self.position += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def open_parquet(path: str) -> Any:
    """A ``pyarrow.parquet.ParquetFile`` reading ``path`` lazily (local, or S3 by ranged GETs)."""
    _, pq = pyarrow_modules()
    try:
        source: Any = _RangedS3File(path) if io.is_s3(path) else path
        return pq.ParquetFile(source, pre_buffer=True)
    except FileNotFoundError:
        raise InputError(f"{path}: stage file missing") from None
    except Exception as exc:
        if io.is_s3(path) and ("404" in str(exc) or "NoSuchKey" in str(exc)):
            raise InputError(f"{path}: stage file missing") from None
        raise


def read_table(path: str, columns: list[str] | None = None) -> Any:
    """The whole file, or only ``columns`` of it."""
    return open_parquet(path).read(columns=columns)


def read_meta(path: str) -> dict[str, Any]:
    """The ``meta`` a stage file was written with (reads the footer only)."""
    schema = open_parquet(path).schema_arrow
    return dict(json.loads((schema.metadata or {}).get(b"dolma", b"{}")))


def band_column(band: int) -> str:
    return f"band_{band:03d}"


def num_rows(path: str) -> int:
    return int(open_parquet(path).metadata.num_rows)


def read_range(path: str, key: str, low: int, high: int, columns: list[str]) -> dict[str, np.ndarray]:
    """Rows of a file written by :func:`write_sorted` whose ``key`` lies in ``[low, high)``, as numpy
    columns; only the row groups that can hold such keys are read."""
    parquet = open_parquet(path)
    meta = parquet.metadata
    index = parquet.schema_arrow.get_field_index(key)
    groups = []
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(index).statistics
        if stats is None or not stats.has_min_max or (stats.min < high and stats.max >= low):
            groups.append(g)
    wanted = list(dict.fromkeys([key, *columns]))
    if not groups:
        schema = parquet.schema_arrow
        return {c: np.zeros(0, dtype=schema.field(c).type.to_pandas_dtype()) for c in wanted}
    table = parquet.read_row_groups(groups, columns=wanted)
    keys = table.column(key).to_numpy()
    mask = (keys >= low) & (keys < high)
    return {c: table.column(c).to_numpy()[mask] for c in wanted}


def gather_rows(paths: list[str], offsets: np.ndarray, rows: np.ndarray, column: str) -> Any:
    """The ``column`` values of global rows ``rows`` (sorted, unique) of the files ``paths`` (file ``i`` holds
    rows ``offsets[i]`` to ``offsets[i + 1]``), as one Arrow array in the order of ``rows``. Each file holding
    some of them is opened once, and only the row groups holding them are read."""
    pa, _ = pyarrow_modules()
    file_of = np.searchsorted(offsets, rows, side="right") - 1
    pieces = []
    for f in np.unique(file_of).tolist():
        local = rows[file_of == f] - offsets[f]
        parquet = open_parquet(paths[f])
        meta = parquet.metadata
        starts = np.cumsum([0] + [meta.row_group(g).num_rows for g in range(meta.num_row_groups)])
        group_of = np.searchsorted(starts, local, side="right") - 1
        groups = np.unique(group_of).tolist()
        table = parquet.read_row_groups(groups, columns=[column])
        # position of each wanted row within the concatenation of the groups read
        base = np.cumsum([0] + [int(starts[g + 1] - starts[g]) for g in groups])[np.searchsorted(groups, group_of)]
        pieces.append(table.column(column).take(pa.array(base + local - starts[group_of])).combine_chunks())
    if not pieces:
        return pa.array([], type=pa.int64())
    return pa.concat_arrays(pieces)


def stage_counters(tasks: Sequence[Task], summary: RunSummary) -> Counter[str]:
    """A stage's counters: those returned by the tasks that ran, plus those stored in the outputs of the tasks
    skipped because their outputs existed, so a resumed run reports real counts, not zeros."""
    totals = Counter(summary.counters)
    for task, result in zip(tasks, summary.results, strict=True):
        if result is None:
            for path in task.outputs():
                totals.update(read_meta(path).get("counters", {}))
    return totals
