"""Writing a stream's output: size-capped parts per input file, then packing into numbered shards.

Each mix task (one input file) writes its kept documents to its own parts, so what a task writes depends
only on its input, never on which worker ran it or when. The driver then walks the parts in input order
and concatenates consecutive parts into shards of at most ``max_size_in_bytes`` on disk, named
``<stream>-00000.jsonl.gz``, ``<stream>-00001.jsonl.gz``, ... Concatenated gzip members and zstd frames
are valid files, so packing copies compressed bytes without recompressing. A part holds at most
``max_size_in_bytes`` of uncompressed JSON, so it is never larger than a shard may be (one document bigger
than the cap still makes its own shard). Parquet parts cannot be concatenated byte-wise; each becomes a
shard of its own.

With ``shuffle``, a part's documents are shuffled in memory before it is written (parts are capped at
:data:`SHUFFLE_WINDOW` bytes) and the order of parts is permuted when packing; both are seeded.
"""

from __future__ import annotations

import os
import random
import re
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import msgspec

from dolma import io

SHUFFLE_WINDOW = 256 << 20
PARQUET_WINDOW = 256 << 20
PARQUET_COLUMNS = ("id", "text", "source", "added", "created")


@dataclass(frozen=True)
class Part:
    path: str
    bytes: int
    """Size on disk (compressed)."""
    documents: int


def extension(output_format: str, compression: str | None) -> str:
    """File extension of a stream's parts and shards."""
    if output_format == "parquet":
        return ".parquet"
    kind = (compression or "gzip").lower()
    if kind in ("gzip", "gz"):
        return ".jsonl.gz"
    if kind in ("zst", "zstd"):
        return ".jsonl.zst"
    if kind in ("none", "no", "plain"):
        return ".jsonl"
    raise ValueError(f"unknown output compression {compression!r}: use gzip, zst or none")


class PartWriter:
    """Writes a task's output lines to parts ``<prefix>-NNNNN<ext>``, starting a new part when the next
    line would take the current one past ``max_bytes`` of uncompressed JSON."""

    def __init__(self, prefix: str, ext: str, max_bytes: int, shuffle_seed: str | None = None) -> None:
        self.prefix = prefix
        self.ext = ext
        self.parquet = ext == ".parquet"
        self.shuffle_seed = shuffle_seed
        self.buffered = self.parquet or shuffle_seed is not None
        limit = PARQUET_WINDOW if self.parquet else SHUFFLE_WINDOW
        self.max_bytes = min(max_bytes, limit) if self.buffered else max_bytes
        self.parts: list[Part] = []
        self.lines: list[bytes] = []
        self.size = 0
        self.count = 0
        self.stack = ExitStack()
        self.stream: Any = None

    def _next_path(self) -> str:
        return f"{self.prefix}-{len(self.parts):05d}{self.ext}"

    def add(self, line: bytes) -> None:
        if self.count and self.size + len(line) > self.max_bytes:
            self._finish_part()
        self.size += len(line)
        self.count += 1
        self.lines.append(line)
        if not self.buffered:
            if self.stream is None:
                self.stream = self.stack.enter_context(io.atomic_write(self._next_path()))
            if len(self.lines) >= 1024:
                self.stream.write(b"".join(self.lines))
                self.lines.clear()

    def _finish_part(self) -> None:
        path = self._next_path()
        if not self.buffered:
            self.stream.write(b"".join(self.lines))
            self.stack.close()
            self.stream = None
        else:
            if self.shuffle_seed is not None:
                random.Random(f"{self.shuffle_seed}/{len(self.parts)}").shuffle(self.lines)
            if self.parquet:
                io.write_stored(path, parquet_bytes(self.lines))
            else:
                with io.atomic_write(path) as out:
                    out.write(b"".join(self.lines))
        self.parts.append(Part(path, io.size(path), self.count))
        self.lines.clear()
        self.size = 0
        self.count = 0

    def close(self) -> list[Part]:
        """Finish the last part; return every part written, in order."""
        if self.count:
            self._finish_part()
        return self.parts

    def abort(self) -> None:
        """Discard the part being written (its temporary file), e.g. after an input error."""
        self.stack.__exit__(RuntimeError, RuntimeError("aborted"), None)


def parquet_bytes(lines: list[bytes]) -> bytes:
    """A Parquet file of JSON document lines. The schema is fixed so every part of every stream reads
    as one dataset (Hugging Face ``datasets`` needs that): id, text, source, added, created as strings;
    metadata and any other fields as JSON text in ``metadata`` and ``extra``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: dict[str, list[Any]] = {name: [] for name in (*PARQUET_COLUMNS, "metadata", "extra")}
    encode = msgspec.json.encode
    for line in lines:
        doc = msgspec.json.decode(line)
        for name in PARQUET_COLUMNS:
            value = doc.pop(name, None)
            columns[name].append(value if value is None or type(value) is str else encode(value).decode())
        metadata = doc.pop("metadata", None)
        columns["metadata"].append(None if metadata is None else encode(metadata).decode())
        columns["extra"].append(encode(doc).decode() if doc else None)
    table = pa.table({name: pa.array(values, type=pa.string()) for name, values in columns.items()})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return bytes(sink.getvalue().to_pybytes())


# --------------------------------------------------------------------------------------------- packing


def concatenate(sources: list[str], target: str) -> None:
    """Write the sources' stored bytes one after the other to ``target`` (atomically). One Parquet part, or
    one part of a stream, is a straight copy."""
    with io.atomic_write_stored(target) as out:
        for source in sources:
            for chunk in io.iter_stored_chunks(source):
                out.write(chunk)


@dataclass(frozen=True)
class Shard:
    path: str
    bytes: int
    documents: int
    parts: tuple[Part, ...]


def order_parts(parts: list[Part], order_seed: str | None) -> list[Part]:
    """Parts in input order, or (with ``shuffle``) a seeded permutation of it."""
    ordered = list(parts)
    if order_seed is not None:
        random.Random(order_seed).shuffle(ordered)
    return ordered


def plan_shards(parts: list[Part], max_bytes: int, ext: str) -> list[list[Part]]:
    """Group consecutive parts greedily into shards of at most ``max_bytes`` (one part per shard for
    Parquet, whose files cannot be concatenated byte-wise)."""
    groups: list[list[Part]] = []
    size = 0
    for part in parts:
        if ext == ".parquet" or not groups or size + part.bytes > max_bytes:
            groups.append([part])
            size = part.bytes
        else:
            groups[-1].append(part)
            size += part.bytes
    return groups


def shard_path(directory: str, stream: str, index: int, ext: str) -> str:
    return io.join(directory, f"{stream}-{index:05d}{ext}")


def dolma_groups(parts_by_input: list[list[Part]], input_sizes: list[int], max_bytes: int) -> list[list[Part]]:
    """allenai/dolma 1.2.1's shards (``compat: dolma-1.2``): whole input files, in order, a new shard started
    when the inputs' summed size on disk passes ``max_bytes`` (an input of size 0 is skipped, as dolma
    does); so a shard may exceed the cap, and a shard whose documents were all dropped is empty."""
    groups: list[list[Part]] = [list(parts_by_input[0])] if parts_by_input else []
    size = input_sizes[0] if input_sizes else 0
    for parts, nbytes in zip(parts_by_input[1:], input_sizes[1:], strict=True):
        if nbytes == 0:
            continue
        size += nbytes
        if size > max_bytes:
            groups.append([])
            size = nbytes
        groups[-1].extend(parts)
    return groups


def dolma_shard_path(directory: str, stream: str, index: int, last: bool, ext: str) -> str:
    """dolma 1.2.1's names: ``<stream>-NNNN.jsonl.gz``, except the last shard, ``<stream>-NNNN.json.gz``."""
    suffix = ext.removeprefix(".jsonl")
    return io.join(directory, f"{stream}-{index:04d}{'.json' if last else '.jsonl'}{suffix}")


def remove_stale(directory: str, stream: str, ext: str, written: list[str]) -> None:
    """Remove this stream's shards that the run did not write: left by an earlier run that made more, or
    named by the other naming (ours ``<stream>-NNNNN.jsonl.gz``, or dolma 1.2.1's ``<stream>-NNNN.jsonl.gz``
    whose last shard is ``.json.gz``, so a rerun in either mode never leaves a twin of the data)."""
    suffix = ext.removeprefix(".jsonl")
    endings = sorted({ext, ".jsonl" + suffix, ".json" + suffix}, key=len, reverse=True)
    pattern = re.compile(re.escape(stream) + r"-\d{4,}(?:" + "|".join(map(re.escape, endings)) + r")\Z")
    keep = {os.path.basename(path) for path in written}
    for path in io.glob(io.join(directory, f"{stream}-*")):
        name = os.path.basename(path)
        if pattern.match(name) and name not in keep:
            io.remove(path)
