"""A Bloom filter over 64-bit key hashes, with exact in-order test-then-insert semantics for whole batches.

Keys are hashed once (xxh3-64, :func:`hash_keys`); the ``k`` bit positions come from enhanced double hashing
of that hash (Kirsch and Mitzenmacher), so the hot path is numpy over arrays of hashes, never per key.

:meth:`BloomFilter.test_and_insert` gives, for a batch of hashes, exactly the answers that testing and then
inserting each key one at a time in batch order would give: a key is a duplicate when all its bits were set
before it, whether by earlier batches or by earlier keys of the same batch. That is what makes exact dedup
keep the first occurrence in input order while the hashing itself runs in parallel.

A persisted filter is split into partitions (:func:`partition_of`), each its own bit file: ``MAGIC``, an
8-byte little-endian header length, a JSON header (sizes, hash scheme, the keys it holds), then the bit array
as little-endian 64-bit words. A JSON :class:`Manifest` ties the parts together with the dedupe settings the
keys were made with and which shards were inserted. The first format was one bit file whose header held
those too; it reads as a one-partition manifest.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xxhash

from dolma import io
from dolma.errors import ConfigError, InputError

MAGIC = b"DLMABLM1"
FORMAT = "dolma-toolkit-bloom"
VERSION = 1
"""Version of a bit file: the filter's bits behind a JSON header (a whole filter in format 1, one
partition's part now)."""
MANIFEST_VERSION = 2
HASH_SCHEME = "xxh3_64(seed=0) -> enhanced double hashing, h2 = splitmix64(h1) | 1, fastrange32 below 2**32 bits"
MAX_HASHES = 32
RATE_SIZED_MAX_HASHES = 8
BATCH = 8192
MIN_RATE_SIZED_BYTES = 1 << 20
MIN_PARTITIONS = 16
PART_TARGET_BYTES = 256 << 20
DECIDE_WORKING_BYTES = 256 << 20
PARTITION_SCHEME = "fmix64(h ^ 0x2545F4914F6CDD1D) >> 32, times partitions >> 32"
WRITE_CHUNK = 64 << 20

_U64 = np.uint64
_SPLITMIX_C1 = _U64(0xBF58476D1CE4E5B9)
_SPLITMIX_C2 = _U64(0x94D049BB133111EB)
_GOLDEN = _U64(0x9E3779B97F4A7C15)
_PARTITION_SALT = _U64(0x2545F4914F6CDD1D)
_FMIX_C1 = _U64(0xFF51AFD7ED558CCD)
_FMIX_C2 = _U64(0xC4CEB9FE1A85EC53)


def hash_keys(keys: Iterable[bytes], count: int = -1) -> np.ndarray:
    """xxh3-64 of each key, as a ``uint64`` array (about 60 ns per key)."""
    return np.fromiter(map(xxhash.xxh3_64_intdigest, keys), dtype=_U64, count=count)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> _U64(30))) * _SPLITMIX_C1
        z = (z ^ (z >> _U64(27))) * _SPLITMIX_C2
        return z ^ (z >> _U64(31))


def false_positive_rate(num_bits: int, num_keys: int, num_hashes: int) -> float:
    """The expected false-positive rate of a filter of ``num_bits`` holding ``num_keys`` keys."""
    if num_keys <= 0:
        return 0.0
    return float((1.0 - math.exp(-num_hashes * num_keys / num_bits)) ** num_hashes)


def optimal_hashes(num_bits: int, num_keys: int) -> int:
    if num_keys <= 0:
        return 1
    return int(min(MAX_HASHES, max(1, round(num_bits / num_keys * math.log(2)))))


def size_for(num_keys: int, rate: float, max_hashes: int = RATE_SIZED_MAX_HASHES) -> tuple[int, int]:
    """``(num_bits, num_hashes)``: the smallest filter (in 64-bit words) whose expected false-positive rate
    with ``num_keys`` keys is at most ``rate``, using at most ``max_hashes`` bit positions per key.

    The optimal count (``log2(1/rate)``, 13 at 1e-4) costs as many memory probes per key; capping it at 8
    costs 10% more bits at 1e-4 (25% at 1e-5) and cuts the per-key work of every test and insert by 40%."""
    k = max(1, min(max_hashes, round(-math.log2(rate))))
    bits = math.ceil(-k * num_keys / math.log(1.0 - rate ** (1.0 / k)))
    bits = max(64, -(-bits // 64) * 64)
    while false_positive_rate(bits, num_keys, k) > rate:
        bits += 64
    return bits, k


@dataclass
class BloomFilter:
    """Bits in ``words`` (uint64); ``header`` carries what the filter holds: settings and included shards."""

    num_bits: int
    num_hashes: int
    words: np.ndarray
    header: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def empty(cls, num_bits: int, num_hashes: int) -> BloomFilter:
        words = -(-num_bits // 64)
        return cls(num_bits=words * 64, num_hashes=num_hashes, words=np.zeros(words, dtype=_U64))

    @property
    def size_in_bytes(self) -> int:
        return int(self.words.nbytes)

    def indices(self, hashes: np.ndarray) -> np.ndarray:
        """``(n, k)`` bit positions of each hash: ``g_i = h1 + i*h2 + (i^3 - i)/6`` reduced to ``[0, m)`` by
        Lemire's multiply-shift on the high 32 bits when ``m < 2**32`` (no division), else by modulo."""
        h1 = np.asarray(hashes, dtype=_U64)[:, None]
        h2 = (_splitmix64(np.asarray(hashes, dtype=_U64)) | _U64(1))[:, None]
        i = np.arange(self.num_hashes, dtype=_U64)[None, :]
        with np.errstate(over="ignore"):
            raw = h1 + i * h2 + (i * i * i - i) // _U64(6)
            if self.num_bits < 1 << 32:
                return ((raw >> _U64(32)) * _U64(self.num_bits)) >> _U64(32)
        return raw % _U64(self.num_bits)

    def _bits_set(self, idx: np.ndarray) -> np.ndarray:
        return ((self.words[idx >> _U64(6)] >> (idx & _U64(63))) & _U64(1)).astype(bool)

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        """For each hash, whether all its bits are set (no insertion)."""
        if len(hashes) == 0:
            return np.zeros(0, dtype=bool)
        return np.asarray(self._bits_set(self.indices(hashes)).all(axis=1))

    def insert(self, hashes: np.ndarray) -> None:
        if len(hashes) == 0:
            return
        idx = self.indices(hashes).ravel()
        np.bitwise_or.at(self.words, idx >> _U64(6), _U64(1) << (idx & _U64(63)))

    def test_and_insert(self, hashes: np.ndarray) -> np.ndarray:
        """Duplicate flags for ``hashes`` as if each were tested and then inserted one at a time, in order.

        Vectorised in three steps: (1) bits already set before the batch; (2) repeats of an earlier hash in
        the batch; (3) the rare key whose bits are all covered by *other* earlier keys of the batch (a false
        positive born inside the batch), found through a collision-count table and resolved exactly in a
        short loop over those candidates only."""
        hashes = np.asarray(hashes, dtype=_U64)
        if len(hashes) > BATCH:  # sequential sub-batches: same answers, cache-sized temporaries (40% faster)
            return np.concatenate([self._test_and_insert(hashes[s : s + BATCH]) for s in range(0, len(hashes), BATCH)])
        return self._test_and_insert(hashes)

    def _test_and_insert(self, hashes: np.ndarray) -> np.ndarray:
        n = len(hashes)
        dup = np.zeros(n, dtype=bool)
        if n == 0:
            return dup
        idx = self.indices(hashes)
        preset = self._bits_set(idx)
        dup |= preset.all(axis=1)
        _, first = np.unique(hashes, return_index=True)
        repeat = np.ones(n, dtype=bool)
        repeat[first] = False
        dup |= repeat
        fresh = np.flatnonzero(~dup)
        if len(fresh):
            self._resolve_batch_collisions(fresh, idx, preset, dup)
            setters = idx[~dup].ravel()
            np.bitwise_or.at(self.words, setters >> _U64(6), _U64(1) << (setters & _U64(63)))
        return dup

    def _resolve_batch_collisions(
        self, fresh: np.ndarray, idx: np.ndarray, preset: np.ndarray, dup: np.ndarray
    ) -> None:
        """Mark fresh keys whose unset bits are all set by earlier fresh keys of the same batch."""
        k = self.num_hashes
        fresh_idx = idx[fresh]
        fresh_pre = preset[fresh]
        table = max(1024, 1 << int(math.ceil(math.log2(2 * fresh_idx.size + 1))))
        slots = (fresh_idx & _U64(table - 1)).astype(np.intp)
        counts = np.bincount(slots[~fresh_pre], minlength=table)
        shared = counts[slots] >= 2
        shared |= fresh_pre
        candidates = np.flatnonzero(shared.all(axis=1))
        if len(candidates) == 0:
            return
        wanted = np.unique(fresh_idx[candidates][~fresh_pre[candidates]])
        rows, cols = np.nonzero(~fresh_pre & np.isin(fresh_idx, wanted))
        setters_of: dict[int, list[int]] = {}
        for row, bit in zip(rows.tolist(), fresh_idx[rows, cols].tolist(), strict=True):
            setters_of.setdefault(bit, []).append(row)
        is_dup = np.zeros(len(fresh), dtype=bool)
        for row in candidates.tolist():
            covered = True
            for col in range(k):
                if fresh_pre[row, col]:
                    continue
                bit = int(fresh_idx[row, col])
                if not any(j < row and not is_dup[j] for j in setters_of.get(bit, ())):
                    covered = False
                    break
            if covered:
                is_dup[row] = True
        dup[fresh[is_dup]] = True

    def fill_ratio(self) -> float:
        return float(np.unpackbits(self.words.view(np.uint8)).mean())

    # ------------------------------------------------------------------------------------------ files

    def save(self, path: str) -> None:
        """Write atomically (local or ``s3://``); the file appears only when complete. The bits are written
        from the array itself, so saving needs no second copy of the filter in memory."""
        header = dict(self.header)
        header.update(format=FORMAT, version=VERSION, num_bits=self.num_bits, num_hashes=self.num_hashes)
        header["hash"] = HASH_SCHEME
        blob = json.dumps(header, sort_keys=True).encode()
        blob += b" " * (-len(blob) % 8)
        words = self.words.astype("<u8", copy=False)
        with io.atomic_write_stored(path) as out:
            out.write(MAGIC + len(blob).to_bytes(8, "little") + blob)
            view = memoryview(words.data).cast("B")
            for start in range(0, len(view), WRITE_CHUNK):
                out.write(view[start : start + WRITE_CHUNK])

    @classmethod
    def load(cls, path: str) -> BloomFilter:
        """Read a filter file into one array of its size: locally with ``np.fromfile``, on S3 by ranged
        reads straight into that array (no second copy of the bits in memory)."""
        if io.compression_of(path):  # a compressed v1 file (the first format wrote by extension)
            data = io.read_bytes(path)
            header, start = _parse_header(path, data[:16], lambda n: data[16 : 16 + n])
            return cls._checked(path, header, np.frombuffer(data, dtype="<u8", offset=start).astype(_U64))
        header, start = read_header(path)
        num_bits = int(header.get("num_bits", -1))
        if num_bits < 0 or num_bits % 64:
            raise InputError(f"{path}: Bloom filter header does not give a bit count")
        if io.is_s3(path):
            words = np.empty(num_bits // 64, dtype="<u8")
            view = memoryview(words.data).cast("B")
            for offset in range(0, len(view), WRITE_CHUNK):
                view[offset : offset + WRITE_CHUNK] = io.read_range(
                    path, start + offset, min(WRITE_CHUNK, len(view) - offset)
                )
        else:
            words = np.fromfile(path, dtype="<u8", offset=start)
        return cls._checked(path, header, words.astype(_U64, copy=False))

    @classmethod
    def _checked(cls, path: str, header: dict[str, Any], words: np.ndarray) -> BloomFilter:
        num_bits, num_hashes = int(header["num_bits"]), int(header["num_hashes"])
        if header.get("hash") != HASH_SCHEME or len(words) * 64 != num_bits:
            raise InputError(f"{path}: Bloom filter header does not match its data or this toolkit's hashing")
        return cls(num_bits=num_bits, num_hashes=num_hashes, words=words, header=header)


def read_header(path: str) -> tuple[dict[str, Any], int]:
    """The JSON header of a filter file and where its bits start, from two small reads (never the bits)."""
    head = io.read_range(path, 0, 16)
    return _parse_header(path, head, lambda n: io.read_range(path, 16, n))


def _parse_header(path: str, head: bytes, read: Any) -> tuple[dict[str, Any], int]:
    if len(head) < 16 or head[:8] != MAGIC:
        raise InputError(
            f"{path}: not a Bloom filter written by this toolkit (allenai/dolma's Rust filter files use other "
            "hash functions and cannot be reused)"
        )
    size = int.from_bytes(head[8:16], "little")
    try:
        header = json.loads(read(size))
    except ValueError as exc:
        raise InputError(f"{path}: corrupt Bloom filter header: {exc}") from None
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise InputError(f"{path}: unsupported Bloom filter format {header.get('format')} v{header.get('version')}")
    return header, 16 + size


def plan_size(size_in_bytes: int, estimated_doc_count: int, rate: float, key_count: int) -> tuple[int, int]:
    """``(num_bits, num_hashes)`` from dolma's keys: ``size_in_bytes`` (hashes chosen for
    ``estimated_doc_count``, or for the keys this run will insert when that is unset), else the smallest
    filter for ``estimated_doc_count`` keys at ``desired_false_positive_rate``, but never under
    ``MIN_RATE_SIZED_BYTES`` (allenai/dolma's floor: its sizing starts at 1 MiB, so an underestimated key
    count, common in its own configs, does not make a filter that marks unique text as duplicate)."""
    if size_in_bytes > 0:
        bits = max(64, size_in_bytes * 8 // 64 * 64)
        return bits, optimal_hashes(bits, estimated_doc_count or max(key_count, 1))
    if estimated_doc_count <= 0 or rate <= 0 or rate >= 1:
        raise ConfigError(
            "bloom_filter: give size_in_bytes, or estimated_doc_count with desired_false_positive_rate in (0, 1)"
        )
    bits, k = size_for(estimated_doc_count, rate)
    return max(bits, MIN_RATE_SIZED_BYTES * 8), k


def default_partitions(num_bits: int) -> int:
    """Partitions of a new filter when the config does not say: at least ``MIN_PARTITIONS`` (so the decide
    stage has work for a cluster), and parts of at most ``PART_TARGET_BYTES``. It depends on the filter
    size only, never on the workers, so the same config always gives the same files."""
    return max(MIN_PARTITIONS, -(-num_bits // 8 // PART_TARGET_BYTES))


def partition_of(hashes: np.ndarray, partitions: int) -> np.ndarray:
    """Each key's partition (``uint32``): Lemire's multiply-shift of the high half of a second mix of the key
    hash (murmur3's finalizer of ``h ^ PARTITION_SALT``), so a partition's keys still spread evenly over
    the bit positions, which come from ``h`` and ``splitmix64(h)``."""
    if partitions == 1:
        return np.zeros(len(hashes), dtype=np.uint32)
    with np.errstate(over="ignore"):
        z = np.asarray(hashes, dtype=_U64) ^ _PARTITION_SALT
        z = (z ^ (z >> _U64(33))) * _FMIX_C1
        z = (z ^ (z >> _U64(33))) * _FMIX_C2
        z ^= z >> _U64(33)
    return (((z >> _U64(32)) * _U64(partitions)) >> _U64(32)).astype(np.uint32)


def check_task_memory(part_bytes: int, task_memory: int, partitions: int) -> None:
    """Refuse, before any work, a filter part that would not fit one task's memory budget with the decide
    stage's working memory (``DECIDE_WORKING_BYTES``: the interpreter, a shard's key slice, the flags)."""
    need = part_bytes + DECIDE_WORKING_BYTES
    if need > task_memory:
        raise ConfigError(
            f"bloom_filter: each of the {partitions} filter part(s) is {part_bytes / 2**20:,.0f} MiB; with "
            f"{DECIDE_WORKING_BYTES >> 20} MiB of working memory a decide task needs {need / 2**20:,.0f} MiB, "
            f"more than task_memory_mb ({task_memory >> 20}). Raise bloom_filter.partitions (a new filter) "
            "or task_memory_mb"
        )


# --------------------------------------------------------------------------------------- the manifest


@dataclass(frozen=True)
class Manifest:
    """What a persisted filter holds, read from ``bloom_filter.file``: the partitioning, the settings its
    keys were made with, the shards inserted (path -> size), and where each partition's bits are.

    Format 2 is a JSON document (this class); the bits of partition ``p`` are the bit file ``parts[p]``,
    written next to it. A format-1 file (one bit file with the same header fields, written before filters
    were partitioned) reads as a one-partition manifest whose only part is the file itself."""

    path: str
    partitions: int
    bits_per_partition: int
    num_hashes: int
    keys: dict[str, Any]
    shards: dict[str, int]
    keys_inserted: int
    partition_keys: tuple[int, ...]
    sized_for: int
    parts: tuple[str, ...]
    token: str
    """A digest of the manifest's bytes: which state of the filter a run started from."""

    @property
    def part_bytes(self) -> int:
        return self.bits_per_partition // 8

    def expected_false_positive_rate(self) -> float:
        """For a key never inserted: the mean over partitions of each part's rate at its own key count."""
        rates = (false_positive_rate(self.bits_per_partition, n, self.num_hashes) for n in self.partition_keys)
        return sum(rates) / self.partitions

    def to_json(self) -> bytes:
        base = _directory(self.path)
        doc = {
            "format": FORMAT,
            "version": MANIFEST_VERSION,
            "hash": HASH_SCHEME,
            "partition_scheme": PARTITION_SCHEME,
            "partitions": self.partitions,
            "bits_per_partition": self.bits_per_partition,
            "num_hashes": self.num_hashes,
            "keys": self.keys,
            "sized_for": self.sized_for,
            "keys_inserted": self.keys_inserted,
            "partition_keys": list(self.partition_keys),
            "shards": self.shards,
            "parts": [part[len(base) :] if part.startswith(base) else part for part in self.parts],
        }
        return json.dumps(doc, sort_keys=True, indent=1).encode() + b"\n"


def _directory(path: str) -> str:
    return path[: path.rfind("/") + 1]


def read_manifest(path: str) -> Manifest:
    """The manifest at ``path`` (format 2), or a format-1 filter file read as one partition."""
    head = io.read_range(path, 0, min(16, io.size(path)))
    if head[:8] == MAGIC and not io.compression_of(path):
        header, _ = read_header(path)
        return _v1_manifest(path, header)
    if io.compression_of(path) and not head.startswith(b"{"):  # a compressed format-1 file
        return _v1_manifest(path, BloomFilter.load(path).header)
    if not head.startswith(b"{"):
        raise InputError(
            f"{path}: not a Bloom filter written by this toolkit (allenai/dolma's Rust filter files use other "
            "hash functions and cannot be reused)"
        )
    try:
        doc = json.loads(b"".join(io.iter_stored_chunks(path)))
    except ValueError as exc:
        raise InputError(f"{path}: corrupt Bloom filter manifest: {exc}") from None
    if doc.get("format") != FORMAT or doc.get("version") != MANIFEST_VERSION:
        raise InputError(f"{path}: unsupported Bloom filter format {doc.get('format')} v{doc.get('version')}")
    if doc.get("hash") != HASH_SCHEME or doc.get("partition_scheme") != PARTITION_SCHEME:
        raise InputError(f"{path}: Bloom filter made with other hashing than this toolkit's")
    base = _directory(path)
    parts = tuple(p if io.is_s3(p) or p.startswith("/") else base + p for p in doc["parts"])
    if len(parts) != doc["partitions"] or len(doc["partition_keys"]) != doc["partitions"]:
        raise InputError(f"{path}: Bloom filter manifest lists {len(parts)} parts for {doc['partitions']} partitions")
    return Manifest(
        path=path,
        partitions=int(doc["partitions"]),
        bits_per_partition=int(doc["bits_per_partition"]),
        num_hashes=int(doc["num_hashes"]),
        keys=doc["keys"],
        shards={str(k): int(v) for k, v in doc["shards"].items()},
        keys_inserted=int(doc["keys_inserted"]),
        partition_keys=tuple(int(n) for n in doc["partition_keys"]),
        sized_for=int(doc["sized_for"]),
        parts=parts,
        token=xxhash.xxh3_64_hexdigest(json.dumps(doc, sort_keys=True).encode()),
    )


def _v1_manifest(path: str, header: dict[str, Any]) -> Manifest:
    inserted = int(header.get("keys_inserted", 0))
    return Manifest(
        path=path,
        partitions=1,
        bits_per_partition=int(header["num_bits"]),
        num_hashes=int(header["num_hashes"]),
        keys=header.get("keys", {}),
        shards={str(k): int(v) for k, v in header.get("shards", {}).items()},
        keys_inserted=inserted,
        partition_keys=(inserted,),
        sized_for=0,
        parts=(path,),
        token=xxhash.xxh3_64_hexdigest(json.dumps(header, sort_keys=True).encode()),
    )


def write_manifest(manifest: Manifest) -> None:
    """Atomically: a reader sees the previous filter or this one, never a mix."""
    io.write_stored(manifest.path, manifest.to_json())


def part_path(manifest_path: str, run: str, partition: int) -> str:
    """Where a run writes partition ``partition``'s bits: named by the run, so a part in use is never
    overwritten; the manifest written at the end of the run points at them."""
    return f"{manifest_path}.parts/{run}-{partition:05d}.bits"
