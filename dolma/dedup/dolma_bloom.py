"""allenai/dolma 1.x's own Bloom filter files, read-only: a filter that dolma's Rust deduper built (say, from
evaluation sets) is reused here for decontamination with the decisions dolma would make.

The file (dolma's ``src/bloom_filter.rs``): little-endian ``u32`` magic ``0x81F0F117``, ``u32`` version 1,
``u32`` number of hash functions, for each one four ``u64`` seeds, a ``u64`` count of 32-bit words, then the
words. A key is the list of strings dolma hashes: ``[paragraph]`` or ``[document key]``, or the n-gram's
words. Each hash function is aHash 0.8 (the portable "fallback" hasher dolma's x86-64 wheels use) seeded
with its four seeds, fed as Rust's ``Hash`` feeds a ``VecDeque<&str>``: the number of strings, then each
string's bytes and a ``0xFF``; a key is present when, for every hash ``h``, bit ``h % 32`` of word
``h / 32 % words`` is set.

Our own filters are a different layout (see :mod:`dolma.dedup.bloom`); dolma's is recognised by its magic.
We never write dolma's layout: its hash seeds are random per filter and its bits are not partitioned, so a
run that would insert keys is refused rather than silently building a second kind of filter.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dolma import io
from dolma.dedup.exact import write_attributes
from dolma.dedup.exact_keys import KIND_NGRAM, NGRAM_JOIN, KeySpec, ShardKeys, read_shard_keys
from dolma.documents import BadLines
from dolma.errors import ConfigError, InputError
from dolma.executors import Executor, ProgressCounter, Report, TaskResult
from dolma.outcome import Outcome

MAGIC = 0x81F0F117
VERSION = 1
_HEADER = struct.Struct("<III")

_MASK = (1 << 64) - 1
_MULTIPLE = 6364136223846793005
_ROT = 23
_PI2 = (0x452821E638D01377, 0xBE5466CF34E90C6C, 0xC0AC29B7C97C50DD, 0x3F84D5B5B5470917)
"""aHash's ``RandomState::with_seeds`` XORs the four seeds with these."""


def is_dolma_filter(path: str) -> bool:
    """Whether ``path`` holds a filter written by allenai/dolma (its first four bytes are dolma's magic)."""
    if not io.exists(path) or io.size(path) < 4:
        return False
    return io.read_range(path, 0, 4) == struct.pack("<I", MAGIC)


def read_header(path: str) -> tuple[tuple[tuple[int, int, int, int], ...], int, int]:
    """``(seeds, offset of the bits, number of 32-bit words)``, checked against the file's size."""
    total = io.size(path)
    head = io.read_range(path, 0, min(total, _HEADER.size))
    if len(head) < _HEADER.size:
        raise InputError(f"{path}: truncated allenai/dolma Bloom filter ({total} bytes)")
    magic, version, num_hashes = _HEADER.unpack(head)
    if magic != MAGIC or version != VERSION:
        raise InputError(f"{path}: not an allenai/dolma version-1 Bloom filter (magic {magic:#x}, v{version})")
    offset = _HEADER.size + 32 * num_hashes + 8
    if num_hashes == 0 or total < offset:
        raise InputError(f"{path}: allenai/dolma Bloom filter header is truncated or names {num_hashes} hashes")
    rest = io.read_range(path, _HEADER.size, offset - _HEADER.size)
    seeds = tuple(struct.unpack_from("<4Q", rest, 32 * i) for i in range(num_hashes))
    (count,) = struct.unpack_from("<Q", rest, 32 * num_hashes)
    if count == 0 or total != offset + 4 * count:
        raise InputError(
            f"{path}: allenai/dolma Bloom filter holds {total - offset} bytes of bits, its header says {4 * count} "
            "(truncated or not a filter)"
        )
    return seeds, offset, count  # type: ignore[return-value]


def _folded_multiply(s: int, by: int) -> int:
    product = s * by
    return (product & _MASK) ^ (product >> 64)


def _rotate_left(x: int, r: int) -> int:
    r &= 63
    return ((x << r) | (x >> (64 - r))) & _MASK if r else x


class _AHasher:
    """aHash 0.8's fallback hasher (``fallback_hash.rs``), the few operations Rust's ``Hash`` of a
    ``VecDeque<&str>`` uses: ``write_usize``, ``write`` and ``write_u8``, then ``finish``."""

    __slots__ = ("buffer", "pad", "k2", "k3")

    def __init__(self, seeds: Sequence[int]) -> None:
        k0, k1, k2, k3 = (seed ^ pi for seed, pi in zip(seeds, _PI2, strict=True))
        self.buffer, self.pad, self.k2, self.k3 = k1, k0, k2, k3

    def _update(self, value: int) -> None:
        self.buffer = _folded_multiply(value ^ self.buffer, _MULTIPLE)

    def _large_update(self, low: int, high: int) -> None:
        combined = _folded_multiply(low ^ self.k2, high ^ self.k3)
        self.buffer = _rotate_left(((self.buffer + self.pad) & _MASK) ^ combined, _ROT)

    def write_u64(self, value: int) -> None:
        self._update(value)

    def write_u8(self, value: int) -> None:
        self._update(value)

    def write(self, data: bytes) -> None:
        n = len(data)
        self.buffer = ((self.buffer + n) * _MULTIPLE) & _MASK
        if n > 16:
            self._large_update(*struct.unpack_from("<QQ", data, n - 16))
            offset = 0
            while n - offset > 16:
                self._large_update(*struct.unpack_from("<QQ", data, offset))
                offset += 16
        elif n > 8:
            self._large_update(struct.unpack_from("<Q", data)[0], struct.unpack_from("<Q", data, n - 8)[0])
        elif n >= 4:
            self._large_update(struct.unpack_from("<I", data)[0], struct.unpack_from("<I", data, n - 4)[0])
        elif n >= 2:
            self._large_update(struct.unpack_from("<H", data)[0], data[-1])
        elif n == 1:
            self._large_update(data[0], data[0])
        else:
            self._large_update(0, 0)

    def finish(self) -> int:
        return _rotate_left(_folded_multiply(self.buffer, self.pad), self.buffer & 63)


def key_hash(seeds: Sequence[int], parts: Sequence[bytes]) -> int:
    """One of dolma's hashes of a key (``parts``: the UTF-8 strings of its ``VecDeque<&str>``)."""
    hasher = _AHasher(seeds)
    hasher.write_u64(len(parts))
    for part in parts:
        hasher.write(part)
        hasher.write_u8(0xFF)  # str's Hash: its bytes, then a 0xFF byte
    return hasher.finish()


@dataclass(frozen=True)
class DolmaBloomFilter:
    """A filter file written by allenai/dolma 1.x: its hash seeds and its 32-bit words."""

    path: str
    seeds: tuple[tuple[int, int, int, int], ...]
    words: np.ndarray

    @classmethod
    def load(cls, path: str) -> DolmaBloomFilter:
        """The seeds from the header; the bits memory-mapped when local (every worker shares the page cache,
        whatever the filter's size), read whole from S3."""
        seeds, offset, count = read_header(path)
        if io.is_s3(path):
            words = np.frombuffer(io.read_range(path, offset, 4 * count), dtype="<u4")
        else:
            words = np.memmap(path, dtype="<u4", mode="r", offset=offset, shape=(count,))
        return cls(path, seeds, words)

    @property
    def size_in_bytes(self) -> int:
        return 4 * len(self.words)

    def contains(self, parts: Sequence[bytes]) -> bool:
        """dolma's ``contains``: every hash function's bit is set."""
        count = len(self.words)
        for seeds in self.seeds:
            h = key_hash(seeds, parts)
            if not (int(self.words[h // 32 % count]) >> (h % 32)) & 1:
                return False
        return True


_NGRAM_JOIN = NGRAM_JOIN.encode()
_loaded: dict[str, DolmaBloomFilter] = {}
"""Filters a worker has opened (workers outlive tasks): each is mapped once per worker, not once per shard."""


def _filter(path: str) -> DolmaBloomFilter:
    if path not in _loaded:
        _loaded[path] = DolmaBloomFilter.load(path)
    return _loaded[path]


class _MembershipKeys(ShardKeys):
    """A shard's units and keys, where each key's "hash" is whether dolma's filter holds it (1) or not (0):
    the same units and key order as our own runs, so the spans come from the one writer."""

    def __init__(self, spec: KeySpec, bloom: DolmaBloomFilter) -> None:
        super().__init__(spec)
        self._simple = False  # every key through _key, with its kind
        self._bloom = bloom

    def _key(self, unit: int, kind: int, key: bytes) -> None:
        self.key_unit.append(unit)
        self.key_kind.append(kind)
        parts = key.split(_NGRAM_JOIN) if kind == KIND_NGRAM else [key]
        self.hashes.append(int(self._bloom.contains(parts)))


@dataclass(frozen=True)
class DolmaFilterTask:
    """One documents shard tested against dolma's filter (nothing inserted), its attribute file written."""

    document_path: str
    attribute_path: str
    filter_path: str
    spec: KeySpec
    dolma_shape: bool = False
    skip_bad_lines: bool = False

    @property
    def label(self) -> str:
        return self.document_path

    def outputs(self) -> list[str]:
        return [self.attribute_path]

    def run(self, report: Report) -> TaskResult:
        bad = BadLines() if self.skip_bad_lines else None
        progress = ProgressCounter(report)
        keys = _MembershipKeys(self.spec, _filter(self.filter_path))
        shard = read_shard_keys(self.document_path, self.spec, bad, progress, keys)
        dup = shard.arrays.pop("hashes").astype(bool)
        spans, marked = write_attributes(self.spec, shard.arrays, dup, self.attribute_path, self.dolma_shape)
        progress.flush()
        counters = {"keys": len(dup), "duplicate_keys": int(dup.sum()), "spans_marked": spans}
        return TaskResult.shard(shard.documents, shard.bytes, bad, documents_marked=marked, **counters)


def check_read_only(path: str, read_only: bool) -> None:
    """dolma's filters are read, never extended: refused unless the run is read-only."""
    if not read_only:
        raise ConfigError(
            f"bloom_filter.file: {path} is an allenai/dolma Bloom filter; it can be used read-only (set "
            "bloom_filter.read_only: true, e.g. for decontamination) but not extended; give another file to build "
            "a filter here"
        )
    read_header(path)


def run_dolma_filter(tasks: list[DolmaFilterTask], executor: Executor, overwrite: bool) -> Outcome:
    started = time.monotonic()
    summary = executor.run(tasks, desc="dedupe: dolma filter", overwrite=overwrite)
    seeds, _, count = read_header(tasks[0].filter_path) if tasks else ((), 0, 0)
    return Outcome(
        title="dolma dedupe",
        headline=f"{summary.tasks_run} attribute file(s) written, {len(tasks) - summary.tasks_run} kept (exist); "
        "read-only against an allenai/dolma filter",
        counters=dict(summary.counters),
        lines=[f"allenai/dolma bloom filter: {4 * count:,} bytes, {len(seeds)} hashes"] if tasks else [],
        notes=list(summary.notes),
        seconds=time.monotonic() - started,
    )
