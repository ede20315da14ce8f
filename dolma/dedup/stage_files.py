"""Stage files of MinHash: self-describing Parquet, each carrying its settings in the schema metadata."""

from __future__ import annotations

import json
from typing import Any

from dolma import io
from dolma.errors import InputError


def pyarrow_modules() -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pa, pq


def write_table(path: str, columns: dict[str, Any], meta: dict[str, Any]) -> None:
    pa, pq = pyarrow_modules()
    table = pa.table(columns).replace_schema_metadata({b"dolma": json.dumps(meta, sort_keys=True).encode()})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    io.write_bytes(path, sink.getvalue().to_pybytes())


def read_table(path: str, columns: list[str] | None = None) -> Any:
    pa, pq = pyarrow_modules()
    try:
        if io.is_s3(path):
            return pq.read_table(pa.BufferReader(io.read_bytes(path)), columns=columns)
        return pq.read_table(path, columns=columns)
    except FileNotFoundError:
        raise InputError(f"{path}: stage file missing") from None


def band_column(band: int) -> str:
    return f"band_{band:03d}"
