"""Array files: named numpy arrays in one file, for the exact-dedup stages to hand data to each other.

Layout: ``STAGE_MAGIC``, an 8-byte header length, a JSON header (name -> dtype, shape, offset), then the raw
arrays 8-byte aligned. Unlike ``np.savez`` there is no zip layer or CRC to compute, loading is a zero-copy
view of the bytes read, and because every array's position is in the header, a task can read one slice of
one array with two small reads and one ranged read (:func:`read_slice`) instead of fetching the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from dolma import io
from dolma.errors import InputError

STAGE_MAGIC = b"DLMAARR1"


def save_arrays(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` atomically (local or ``s3://``)."""
    header: dict[str, Any] = {}
    blobs: list[bytes] = []
    offset = 0
    for name, value in arrays.items():
        data = np.asarray(value)
        raw = data.tobytes()  # C order, whatever the layout
        header[name] = [data.dtype.str, list(data.shape), offset]
        blobs.append(raw + b"\0" * (-len(raw) % 8))
        offset += len(blobs[-1])
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with io.atomic_write(path) as out:
        out.write(STAGE_MAGIC + len(head).to_bytes(8, "little") + head)
        for blob in blobs:
            out.write(blob)


def load_arrays(path: str) -> dict[str, np.ndarray]:
    try:
        data = io.read_bytes(path)
    except InputError:
        raise InputError(f"{path}: stage file missing (was the work directory cleaned mid-run?)") from None
    header = _parse(path, data[:16], lambda n: data[16 : 16 + n])
    out = {}
    for name in header.arrays:
        dtype, shape, offset = header.arrays[name]
        dt = np.dtype(dtype)
        count = int(np.prod(shape)) if shape else 1
        out[name] = np.frombuffer(data, dtype=dt, count=count, offset=header.start + offset).reshape(tuple(shape))
    return out


@dataclass(frozen=True)
class StageHeader:
    path: str
    arrays: dict[str, list[Any]]
    start: int

    def length(self, name: str) -> int:
        """Elements of the one-dimensional array ``name``."""
        return int(self.arrays[name][1][0])


def read_header(path: str) -> StageHeader:
    """A stage file's header, from two small reads (stage files are stored uncompressed)."""
    try:
        head = io.read_range(path, 0, 16)
    except InputError:
        raise InputError(f"{path}: stage file missing (was the work directory cleaned mid-run?)") from None
    return _parse(path, head, lambda n: io.read_range(path, 16, n))


def read_slice(header: StageHeader, name: str, lo: int, hi: int) -> np.ndarray:
    """Elements ``lo:hi`` of the one-dimensional array ``name``: one ranged read."""
    dtype, shape, offset = header.arrays[name]
    dt = np.dtype(dtype)
    if not 0 <= lo <= hi <= shape[0]:
        raise InputError(f"{header.path}: slice {lo}:{hi} of {name} is outside its {shape[0]} elements")
    data = io.read_range(header.path, header.start + offset + lo * dt.itemsize, (hi - lo) * dt.itemsize)
    return np.frombuffer(data, dtype=dt)


def _parse(path: str, head: bytes, read: Any) -> StageHeader:
    if head[:8] != STAGE_MAGIC:
        raise InputError(f"{path}: not a dedupe stage file")
    size = int.from_bytes(head[8:16], "little")
    return StageHeader(path=path, arrays=json.loads(read(size)), start=16 + size)
