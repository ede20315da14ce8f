"""Near-duplicate clustering with MinHash LSH (the ``minhash`` section of ``dolma dedupe``).

Stages, each writing self-describing Parquet keyed by shard and document (never by task position), each
skipped when its outputs exist so a run restarted after any stage resumes there:

1. *signatures* (parallel, one task per shard): normalise text (lowercase, accents stripped, punctuation to
   space, digits folded to 0, whitespace collapsed), word n-gram shingles, a MinHash signature, and one
   64-bit hash per LSH band;
2. *bands* (parallel, one task per group of bands): documents sharing a band hash become candidate edges,
   optionally verified by their estimated Jaccard similarity (agreement of the signatures);
3. *clusters* (the driver): connected components over the edges (:mod:`dolma.dedup.clusters`) and one
   keeper per cluster: the first in input order, or the highest value of a named attribute;
4. *attributes* (parallel): per document, ``<name>_duplicate`` (1 for every member but the keeper),
   ``<name>_cluster_id`` and ``<name>_cluster_size``, as document-level spans.

The signature is one-permutation hashing with optimal densification (Shrivastava, ICML 2017): each shingle is
hashed once and lands in one of ``num_perm`` bins, and empty bins borrow from bins picked by a fixed probe
sequence. Each bin then agrees between two documents with probability equal to their Jaccard similarity, as
with ``num_perm`` independent permutations, at the cost of one hash per shingle instead of ``num_perm``.
"""

from __future__ import annotations

import json
import re
import sys
import time
import unicodedata
from array import array
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
import numpy as np
import xxhash
from msgspec import Meta

from dolma import io, layout
from dolma.config import Strict
from dolma.dedup.clusters import component_sizes, components, keepers
from dolma.documents import BadLines, encode_line, read_attributes, read_documents
from dolma.errors import ConfigError, InputError
from dolma.executors import Executor, ProgressCounter, Report, TaskResult

FORMAT = "dolma-toolkit-minhash-v1"
EMPTY = np.uint64(1 << 32)
_U64 = np.uint64
_GOLDEN = _U64(0x9E3779B97F4A7C15)
REPORT_EVERY = 2_000
CHUNK_DOCS = 2_000
CHUNK_CHARS = 4_000_000
"""Signatures are computed for batches of at most this many documents or characters: enough to amortise
numpy's per-call cost, small enough that the per-shingle temporaries stay a few tens of MB."""


class KeeperConfig(Strict):
    experiment: Annotated[str, Meta(description="attribute directory holding the score (attributes/<experiment>/)")]
    attribute: Annotated[str, Meta(description="attribute key; the first span's score is used")]


class MinhashConfig(Strict):
    attribute_name: Annotated[str, Meta(description="attribute key prefix: <name>_duplicate, ...")] = "minhash"
    ngram_length: Annotated[int, Meta(description="words per shingle")] = 5
    num_perm: Annotated[int, Meta(description="signature length (MinHash bins)")] = 256
    threshold: Annotated[float, Meta(description="target Jaccard similarity of near-duplicates")] = 0.7
    bands: Annotated[int | None, Meta(description="LSH bands (default: chosen from threshold)")] = None
    rows: Annotated[int | None, Meta(description="rows per band (default: chosen from threshold)")] = None
    false_positive_weight: Annotated[
        float, Meta(description="weight of false positives when choosing bands (verification removes most)")
    ] = 0.1
    false_negative_weight: Annotated[float, Meta(description="weight of false negatives when choosing bands")] = 0.9
    seed: Annotated[int, Meta(description="hash seed")] = 1
    verify: Annotated[
        str,
        Meta(
            description="none; estimated: keep candidate pairs whose signatures agree >= verify_threshold; "
            "exact: whose shingle sets have Jaccard >= verify_threshold (stores shingle hashes)"
        ),
    ] = "estimated"
    verify_threshold: Annotated[float | None, Meta(description="default: threshold")] = None
    keeper: Annotated[
        KeeperConfig | None, Meta(description="keep the highest-scoring member (default: first in input order)")
    ] = None
    band_tasks: Annotated[int | None, Meta(description="band stage tasks (default: one per worker)")] = None
    work_dir: Annotated[str | None, Meta(description="intermediate Parquet files (default: <prefix>/work/)")] = None


# ----------------------------------------------------------------------------------------- parameters


def choose_bands(config: MinhashConfig) -> tuple[int, int]:
    """``(bands, rows)``: as given, or datasketch's optimal parameters for the threshold and weights."""
    if (config.bands is None) != (config.rows is None):
        raise ConfigError("minhash.bands and minhash.rows: give both or neither")
    if config.bands is not None and config.rows is not None:
        if config.bands < 1 or config.rows < 1 or config.bands * config.rows > config.num_perm:
            raise ConfigError(
                f"minhash.bands x rows = {config.bands} x {config.rows} must be >= 1 and <= num_perm "
                f"({config.num_perm})"
            )
        return config.bands, config.rows
    if not 0.0 < config.threshold < 1.0:
        raise ConfigError("minhash.threshold: must be within (0, 1)")
    from datasketch.lsh import _optimal_param

    bands, rows = _optimal_param(
        config.threshold, config.num_perm, config.false_positive_weight, config.false_negative_weight
    )
    return int(bands), int(rows)


def detection_probability(jaccard: np.ndarray | float, bands: int, rows: int) -> np.ndarray:
    """The LSH S-curve: probability that two documents of this Jaccard similarity share a band."""
    return 1.0 - (1.0 - np.asarray(jaccard, dtype=np.float64) ** rows) ** bands


@dataclass(frozen=True)
class Hashing:
    """Everything that defines a signature; stored in every signature file."""

    num_perm: int
    ngram_length: int
    seed: int
    bands: int
    rows: int

    def meta(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "num_perm": self.num_perm,
            "ngram_length": self.ngram_length,
            "seed": self.seed,
            "bands": self.bands,
            "rows": self.rows,
            "normalisation": "lower,nfkd-strip-accents,punct->space,digits->0,split",
            "shingle_hash": "xxh3_64(word, seed) combined per n-gram, splitmix64",
            "signature": "one-permutation hashing, optimal densification",
        }


# -------------------------------------------------------------------------------------- normalisation

_ASCII_TABLE = bytes(
    ord(" ") if (chr(c) in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") else ord("0") if chr(c).isdigit() else c
    for c in range(256)
)
_NON_WORD = re.compile(r"[^\w\s]|_")
_DIGIT = re.compile(r"\d")


def normalise(text: str) -> bytes:
    """Lowercase, accents stripped, punctuation to space, digits to ``0``, as UTF-8 bytes ready to split."""
    lowered = text.lower()
    if not lowered.isascii():
        decomposed = unicodedata.normalize("NFKD", lowered)
        lowered = "".join(c for c in decomposed if not unicodedata.combining(c))
        lowered = _DIGIT.sub("0", _NON_WORD.sub(" ", lowered))
    return lowered.encode("utf-8", "surrogatepass").translate(_ASCII_TABLE)


# ------------------------------------------------------------------------------------------ signatures


def _splitmix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
        return z ^ (z >> _U64(31))


class Signer:
    """Computes signatures and band hashes for batches of documents, vectorised across the batch."""

    def __init__(self, hashing: Hashing) -> None:
        self.h = hashing
        rng = np.random.default_rng(hashing.seed)
        self.mult = rng.integers(1, 2**63, size=hashing.ngram_length, dtype=np.uint64) | _U64(1)
        self.band_seeds = rng.integers(1, 2**63, size=hashing.bands, dtype=np.uint64)
        # Probe sequence of optimal densification: empty bin i tries bins probes[t, i] for t = 0, 1, ...
        self.probes = rng.integers(0, hashing.num_perm, size=(8 * hashing.num_perm, hashing.num_perm))
        self._seed = hashing.seed
        self._pad = [0] * (hashing.ngram_length - 1)

    def word_hashes(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Flat word hashes of all ``texts`` (each followed by ``n - 1`` zero pads) and words per text."""
        flat = array("Q")
        counts = array("q")
        seed = self._seed
        for text in texts:
            words = normalise(text).split()
            flat.extend([xxhash.xxh3_64_intdigest(w, seed) for w in words])
            flat.extend(self._pad)
            counts.append(len(words))
        return np.frombuffer(flat, dtype=np.uint64), np.frombuffer(counts, dtype=np.int64)

    def shingles(self, flat: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(shingle_hashes, doc_of_shingle)``. A text shorter than ``n`` words is one shingle; an empty text
        has none."""
        n = self.h.ngram_length
        total = len(flat) - (n - 1)
        with np.errstate(over="ignore"):
            acc = np.zeros(max(total, 0), dtype=np.uint64)
            for j in range(n):
                acc += flat[j : j + total] * self.mult[j]
        per_doc = np.where(counts >= n, counts - n + 1, np.minimum(counts, 1))
        starts = np.cumsum(counts + n - 1) - (counts + n - 1)
        doc = np.repeat(np.arange(len(counts)), per_doc)
        offset = np.arange(len(doc)) - np.repeat(np.cumsum(per_doc) - per_doc, per_doc)
        return _splitmix(acc[starts[doc] + offset]), doc

    def signatures(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(signatures (docs, num_perm) uint32, empty flags)``."""
        sig, empty, _ = self.signatures_and_shingles(texts, keep_shingles=False)
        return sig, empty

    def signatures_and_shingles(
        self, texts: list[str], keep_shingles: bool
    ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray] | None]:
        """Signatures, empty flags, and (if asked) each document's sorted set of 32-bit shingle hashes, for
        exact verification."""
        perm = self.h.num_perm
        flat, counts = self.word_hashes(texts)
        hashes, doc = self.shingles(flat, counts)
        sets = shingle_sets(hashes, doc, len(texts)) if keep_shingles else None
        bins = ((hashes >> _U64(32)) * _U64(perm)) >> _U64(32)
        values = hashes & _U64(0xFFFFFFFF)
        flat_sig = np.full(len(texts) * perm, EMPTY, dtype=np.uint64)
        np.minimum.at(flat_sig, doc.astype(np.int64) * perm + bins.astype(np.int64), values)
        sig = flat_sig.reshape(len(texts), perm)
        empty_doc = counts == 0
        self._densify(sig, empty_doc)
        sig[empty_doc] = 0xFFFFFFFF
        return sig.astype(np.uint32), empty_doc, sets

    def _densify(self, sig: np.ndarray, empty_doc: np.ndarray) -> None:
        """Fill empty bins from the first non-empty bin on each bin's fixed probe sequence (the same sequence
        for every document, so two documents borrow from the same bins). A bin's value is taken with the
        attempt number mixed in, as optimal densification requires, so borrowed values differ from the
        originals they copy."""
        original = sig.copy()
        rows, cols = np.nonzero((original == EMPTY) & ~empty_doc[:, None])
        attempt = 0
        while len(rows):
            source = self.probes[attempt % len(self.probes), cols]
            found = original[rows, source]
            hit = found != EMPTY
            if hit.any():
                salt = _splitmix(np.full(int(hit.sum()), attempt + 1, dtype=np.uint64))
                sig[rows[hit], cols[hit]] = (found[hit] ^ salt) & _U64(0xFFFFFFFF)
            rows, cols = rows[~hit], cols[~hit]
            attempt += 1
            if attempt >= len(self.probes):  # a degenerate probe table; fall back to any filled bin
                first = np.argmin(original[rows] == EMPTY, axis=1)
                sig[rows, cols] = original[rows, first]
                break

    def band_hashes(self, sig: np.ndarray, empty_doc: np.ndarray) -> np.ndarray:
        """``(docs, bands)`` uint64: the rows of each band mixed into one hash. Empty documents get values of
        their own (their row mixed with the band seed), so empty texts are not clustered together."""
        r = self.h.rows
        out = np.empty((len(sig), self.h.bands), dtype=np.uint64)
        wide = sig.astype(np.uint64)
        for band in range(self.h.bands):
            acc = np.full(len(sig), self.band_seeds[band], dtype=np.uint64)
            for j in range(band * r, band * r + r):
                acc = _splitmix(acc ^ wide[:, j])
            out[:, band] = acc
        if empty_doc.any():
            idx = np.flatnonzero(empty_doc).astype(np.uint64)
            out[empty_doc] = _splitmix(idx[:, None] + _U64(1) + self.band_seeds[None, :] * _U64(7))
        return out


def shingle_sets(hashes: np.ndarray, doc: np.ndarray, n_docs: int) -> list[np.ndarray]:
    """Per document, its sorted unique 32-bit shingle hashes."""
    keys = np.unique((doc.astype(np.uint64) << _U64(32)) | (hashes >> _U64(32)))
    owner = (keys >> _U64(32)).astype(np.int64)
    bounds = np.searchsorted(owner, np.arange(n_docs + 1))
    values = (keys & _U64(0xFFFFFFFF)).astype(np.uint32)
    return [values[bounds[i] : bounds[i + 1]] for i in range(n_docs)]


def jaccard_exact(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted unique hash arrays."""
    if len(a) == 0 and len(b) == 0:
        return 0.0
    common = len(np.intersect1d(a, b, assume_unique=True))
    return common / (len(a) + len(b) - common)


def jaccard_estimate(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise fraction of agreeing signature bins."""
    return np.asarray((a == b).mean(axis=-1))


# --------------------------------------------------------------------------------------- stage files


def _pa() -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pa, pq


def write_table(path: str, columns: dict[str, Any], meta: dict[str, Any]) -> None:
    pa, pq = _pa()
    table = pa.table(columns).replace_schema_metadata({b"dolma": json.dumps(meta, sort_keys=True).encode()})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    io.write_bytes(path, sink.getvalue().to_pybytes())


def read_table(path: str, columns: list[str] | None = None) -> Any:
    pa, pq = _pa()
    try:
        if io.is_s3(path):
            return pq.read_table(pa.BufferReader(io.read_bytes(path)), columns=columns)
        return pq.read_table(path, columns=columns)
    except FileNotFoundError:
        raise InputError(f"{path}: stage file missing") from None


def band_column(band: int) -> str:
    return f"band_{band:03d}"


# --------------------------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class SignatureTask:
    """Stage 1: one documents shard in, one signature Parquet out (one row per document, in line order)."""

    document_path: str
    signature_path: str
    hashing: Hashing
    verify: str
    keeper_path: str | None = None
    keeper_attribute: str | None = None
    skip_bad_lines: bool = False

    @property
    def label(self) -> str:
        return self.document_path

    def outputs(self) -> list[str]:
        return [self.signature_path]

    def run(self, report: Report) -> TaskResult:
        signer = Signer(self.hashing)
        bad = BadLines() if self.skip_bad_lines else None
        ids: list[str] = []
        lines = array("q")
        lengths = array("q")
        sigs: list[np.ndarray] = []
        sets: list[np.ndarray] = []
        bands: list[np.ndarray] = []
        empties: list[np.ndarray] = []
        texts: list[str] = []
        nbytes = chunk_chars = 0
        progress = ProgressCounter(report, every=REPORT_EVERY)

        def flush() -> None:
            sig, empty, shingles = signer.signatures_and_shingles(texts, keep_shingles=self.verify == "exact")
            bands.append(signer.band_hashes(sig, empty))
            empties.append(empty)
            if self.verify == "estimated":
                sigs.append(sig)
            if shingles is not None:
                sets.extend(shingles)
            texts.clear()

        for lineno, doc, size in read_documents(self.document_path, bad):
            ids.append(doc.id)
            lines.append(lineno)
            lengths.append(len(doc.text))
            texts.append(doc.text)
            chunk_chars += len(doc.text)
            nbytes += size
            progress.add(size)
            if len(texts) >= CHUNK_DOCS or chunk_chars >= CHUNK_CHARS:
                flush()
                chunk_chars = 0
        if texts:
            flush()
        progress.flush()
        columns = self._columns(ids, lines, lengths, bands, empties, sigs, sets)
        meta = {**self.hashing.meta(), "shard": self.document_path}
        write_table(self.signature_path, columns, meta)
        counters = {"files": 1, "documents": len(ids), "bytes": nbytes}
        notes: list[str] = []
        if bad is not None and bad.count:
            counters["bad_lines"] = bad.count
            notes = bad.examples
        return TaskResult(counters=counters, notes=notes)

    def _columns(
        self,
        ids: list[str],
        lines: array[int],
        lengths: array[int],
        bands: list[np.ndarray],
        empties: list[np.ndarray],
        sigs: list[np.ndarray],
        sets: list[np.ndarray],
    ) -> dict[str, Any]:
        pa, _ = _pa()
        n = len(ids)
        perm, n_bands = self.hashing.num_perm, self.hashing.bands
        band_matrix = np.concatenate(bands) if bands else np.zeros((0, n_bands), dtype=np.uint64)
        columns: dict[str, Any] = {
            "shard": pa.array([self.document_path] * n, pa.string()).dictionary_encode(),
            "line": np.frombuffer(lines, dtype=np.int64),
            "id": pa.array(ids, pa.string()),
            "length": np.frombuffer(lengths, dtype=np.int64),
            "empty": np.concatenate(empties) if empties else np.zeros(0, dtype=bool),
        }
        for band in range(n_bands):
            columns[band_column(band)] = band_matrix[:, band]
        if self.verify == "estimated":
            flat = np.concatenate(sigs).ravel() if sigs else np.zeros(0, dtype=np.uint32)
            columns["signature"] = pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.uint32()), perm)
        if self.verify == "exact":
            sizes = np.array([len(x) for x in sets], dtype=np.int32)
            offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
            values = np.concatenate(sets) if sets else np.zeros(0, dtype=np.uint32)
            columns["shingles"] = pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, pa.uint32()))
        if self.keeper_path is not None:
            columns["keeper_score"] = self._keeper_scores(n)
        return columns

    def _keeper_scores(self, n: int) -> np.ndarray:
        assert self.keeper_path is not None and self.keeper_attribute is not None
        scores = np.full(n, -np.inf)
        i = 0
        for lineno, row, _ in read_attributes(self.keeper_path):
            if i >= n:
                raise InputError(f"{self.keeper_path}:{lineno}: more rows than {self.document_path} has documents")
            spans = row.attributes.get(self.keeper_attribute)
            if spans:
                scores[i] = float(spans[0][2])
            i += 1
        if i != n:
            raise InputError(f"{self.keeper_path}: {i} rows for {n} documents in {self.document_path}")
        return scores


@dataclass(frozen=True)
class BandTask:
    """Stage 2: a group of bands over every signature file in, candidate edges out (Parquet of
    ``(shard, line, id)`` pairs, the second member after the first in input order)."""

    index: int
    bands: tuple[int, ...]
    signature_paths: tuple[str, ...]
    edge_path: str
    verify: str
    verify_threshold: float

    @property
    def label(self) -> str:
        return f"bands {self.bands[0]}-{self.bands[-1]}"

    def outputs(self) -> list[str]:
        return [self.edge_path]

    def run(self, report: Report) -> TaskResult:
        columns = [band_column(b) for b in self.bands]
        tables = [read_table(p, columns) for p in self.signature_paths]
        sizes = np.array([t.num_rows for t in tables], dtype=np.int64)
        firsts: list[np.ndarray] = []
        seconds: list[np.ndarray] = []
        for name in columns:
            values = np.concatenate([t.column(name).to_numpy() for t in tables]) if tables else np.zeros(0, _U64)
            a, b = bucket_edges(values)
            firsts.append(a)
            seconds.append(b)
        del tables
        a = np.concatenate(firsts) if firsts else np.zeros(0, np.int64)
        b = np.concatenate(seconds) if seconds else np.zeros(0, np.int64)
        if len(a):
            pairs = np.unique(np.stack([a, b], axis=1), axis=0)
            a, b = pairs[:, 0], pairs[:, 1]
        candidates = len(a)
        if self.verify != "none" and len(a):
            keep = self._verify(a, b, sizes)
            a, b = a[keep], b[keep]
        self._write(a, b, sizes)
        report(0, 0)
        return TaskResult(counters={"candidate_pairs": candidates, "verified_pairs": len(a)})

    def _rows(self, nodes: np.ndarray, sizes: np.ndarray, column: str) -> list[Any]:
        """``column`` values for global row numbers ``nodes``, reading only the files that hold them."""
        offsets = np.cumsum(sizes) - sizes
        file_of = np.searchsorted(offsets, nodes, side="right") - 1
        out: list[Any] = [None] * len(nodes)
        for f in np.unique(file_of).tolist():
            mask = np.flatnonzero(file_of == f)
            table = read_table(self.signature_paths[f], [column])
            taken = table.column(column).take(nodes[mask] - offsets[f])
            for pos, value in zip(mask.tolist(), taken.to_pylist(), strict=True):
                out[pos] = value
        return out

    def _verify(self, a: np.ndarray, b: np.ndarray, sizes: np.ndarray) -> np.ndarray:
        """Keep pairs whose (estimated or exact) Jaccard similarity reaches the verify threshold; only the
        documents named by candidate pairs are read."""
        nodes, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
        ia, ib = inverse[: len(a)], inverse[len(a) :]
        if self.verify == "estimated":
            sig = np.asarray(self._rows(nodes, sizes, "signature"), dtype=np.uint32)
            return np.asarray(jaccard_estimate(sig[ia], sig[ib]) >= self.verify_threshold)
        sets = [np.asarray(x, dtype=np.uint32) for x in self._rows(nodes, sizes, "shingles")]
        similarity = [jaccard_exact(sets[i], sets[j]) for i, j in zip(ia.tolist(), ib.tolist(), strict=True)]
        return np.asarray(similarity) >= self.verify_threshold

    def _write(self, a: np.ndarray, b: np.ndarray, sizes: np.ndarray) -> None:
        pa, _ = _pa()
        nodes = np.concatenate([a, b])
        shards = self._rows(nodes, sizes, "shard")
        lines = np.asarray(self._rows(nodes, sizes, "line"), dtype=np.int64)
        ids = self._rows(nodes, sizes, "id")
        half = len(a)
        columns = {
            "a_shard": pa.array(shards[:half], pa.string()),
            "a_line": lines[:half].astype(np.int64),
            "a_id": pa.array(ids[:half], pa.string()),
            "b_shard": pa.array(shards[half:], pa.string()),
            "b_line": lines[half:].astype(np.int64),
            "b_id": pa.array(ids[half:], pa.string()),
        }
        write_table(self.edge_path, columns, {"format": FORMAT, "bands": list(self.bands)})


def bucket_edges(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges ``(first, other)`` joining every document to the first document (in input order) that shares
    its bucket value."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.ones(len(values), dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    group_first = order[np.flatnonzero(starts)[np.cumsum(starts) - 1]]
    member = ~starts
    return group_first[member].astype(np.int64), order[member].astype(np.int64)


@dataclass(frozen=True)
class ClusterAttributeTask:
    """Stage 4: cluster facts for one shard in, its attribute file out."""

    signature_path: str
    cluster_path: str
    attribute_path: str
    name: str

    @property
    def label(self) -> str:
        return self.attribute_path

    def outputs(self) -> list[str]:
        return [self.attribute_path]

    def run(self, report: Report) -> TaskResult:
        docs = read_table(self.signature_path, ["id", "length"])
        facts = read_table(self.cluster_path)
        ids = docs.column("id").to_pylist()
        lengths = docs.column("length").to_numpy().tolist()
        dup = facts.column("duplicate").to_numpy().tolist()
        cid = facts.column("cluster_id").to_numpy().tolist()
        size = facts.column("cluster_size").to_numpy().tolist()
        keys = (f"{self.name}_duplicate", f"{self.name}_cluster_id", f"{self.name}_cluster_size")
        with io.atomic_write(self.attribute_path) as out:
            for i, doc_id in enumerate(ids):
                n = lengths[i]
                attrs = {keys[0]: [[0, n, int(dup[i])]], keys[1]: [[0, n, cid[i]]], keys[2]: [[0, n, size[i]]]}
                out.write(encode_line({"id": doc_id, "attributes": attrs}))
        report(len(ids), 0)
        return TaskResult(counters={"duplicates_marked": int(sum(dup))})


# ------------------------------------------------------------------------------------------------ run


@dataclass
class MinhashRun:
    config: MinhashConfig
    documents: list[str]
    attribute_paths: list[str]
    work_dir: str
    hashing: Hashing
    keeper_paths: list[str] | None
    skip_bad_lines: bool = False

    def _stem(self, path: str) -> str:
        return xxhash.xxh3_64_hexdigest(path.encode())

    def signature_path(self, path: str) -> str:
        return io.join(self.work_dir, "signatures", self._stem(path) + ".parquet")

    def cluster_path(self, path: str) -> str:
        return io.join(self.work_dir, "clusters", self._stem(path) + ".parquet")

    def edge_path(self, group: int) -> str:
        return io.join(self.work_dir, "edges", f"group-{group:04d}.parquet")

    @property
    def verify_threshold(self) -> float:
        return self.config.verify_threshold if self.config.verify_threshold is not None else self.config.threshold


def plan_minhash(config: MinhashConfig, documents: list[str], name: str, run_config: Any) -> MinhashRun:
    """Validate the section and lay out the work directory (named by a fingerprint of the inputs and
    settings, so outputs of a different run are never mistaken for this one's)."""
    if config.ngram_length < 1 or config.num_perm < 2:
        raise ConfigError("minhash.ngram_length must be >= 1 and minhash.num_perm >= 2")
    if config.verify not in ("none", "estimated", "exact"):
        raise ConfigError(f"minhash.verify: {config.verify!r}; use none, estimated or exact")
    bands, rows = choose_bands(config)
    hashing = Hashing(config.num_perm, config.ngram_length, config.seed, bands, rows)
    keeper_paths = None
    if config.keeper is not None:
        keeper_paths = [layout.attribute_path(p, config.keeper.experiment) for p in documents]
        missing = [p for p in keeper_paths if not io.exists(p)]
        if missing:
            raise ConfigError(f"minhash.keeper: attribute file {missing[0]} does not exist (run that tagger first)")
    sizes = [io.size(p) for p in documents]
    fingerprint = json.dumps(
        [documents, sizes, hashing.meta(), config.verify, config.verify_threshold, msgspec.to_builtins(config.keeper)],
        sort_keys=True,
    )
    base = config.work_dir or run_config.work_dir.output
    if not base:
        prefix, _ = layout.split_documents_path(documents[0])
        base = io.join(prefix, "work", f"minhash-{name}")
    work = io.join(base, xxhash.xxh3_64_hexdigest(fingerprint.encode()))
    return MinhashRun(
        config=config,
        documents=documents,
        attribute_paths=[layout.attribute_path(p, name) for p in documents],
        work_dir=work,
        hashing=hashing,
        keeper_paths=keeper_paths,
        skip_bad_lines=run_config.skip_bad_lines,
    )


@dataclass
class MinhashOutcome:
    documents: int
    clusters: int
    duplicates: int
    candidate_pairs: int
    verified_pairs: int
    state_bytes: int
    stage_seconds: dict[str, float]


def run_minhash(run: MinhashRun, executor: Executor, quiet: bool = False) -> MinhashOutcome:
    seconds: dict[str, float] = {}
    started = time.monotonic()
    sig_tasks = [
        SignatureTask(
            p,
            run.signature_path(p),
            run.hashing,
            verify=run.config.verify,
            keeper_path=run.keeper_paths[i] if run.keeper_paths else None,
            keeper_attribute=run.config.keeper.attribute if run.config.keeper else None,
            skip_bad_lines=run.skip_bad_lines,
        )
        for i, p in enumerate(run.documents)
    ]
    # stage outputs are keyed by a fingerprint of the inputs: never redone, even with overwrite
    sig_summary = executor.run(sig_tasks, desc="minhash: signatures", overwrite=False)
    seconds["signatures"] = time.monotonic() - started

    started = time.monotonic()
    groups = _band_groups(run, executor.workers)
    band_tasks = [
        BandTask(
            i,
            group,
            tuple(t.signature_path for t in sig_tasks),
            run.edge_path(i),
            run.config.verify,
            run.verify_threshold,
        )
        for i, group in enumerate(groups)
    ]
    band_summary = executor.run(band_tasks, desc="minhash: bands", overwrite=False)
    seconds["bands"] = time.monotonic() - started

    started = time.monotonic()
    if all(io.exists(run.cluster_path(p)) for p in run.documents):
        clusters, duplicates, n_docs, state = _reuse_clusters(run)
    else:
        clusters, duplicates, n_docs, state = _cluster(run, [t.edge_path for t in band_tasks])
    seconds["clusters"] = time.monotonic() - started

    started = time.monotonic()
    attr_tasks = [
        ClusterAttributeTask(run.signature_path(p), run.cluster_path(p), out, run.config.attribute_name)
        for p, out in zip(run.documents, run.attribute_paths, strict=True)
    ]
    attr_summary = executor.run(attr_tasks, desc="minhash: attributes")
    seconds["attributes"] = time.monotonic() - started
    outcome = MinhashOutcome(
        documents=n_docs,
        clusters=clusters,
        duplicates=duplicates,
        candidate_pairs=int(band_summary.counters.get("candidate_pairs", 0)),
        verified_pairs=int(band_summary.counters.get("verified_pairs", 0)),
        state_bytes=state,
        stage_seconds=seconds,
    )
    if not quiet:
        _print(run, outcome, sig_summary, attr_summary)
    return outcome


def _band_groups(run: MinhashRun, workers: int) -> list[tuple[int, ...]]:
    bands = run.hashing.bands
    tasks = run.config.band_tasks or workers
    tasks = max(1, min(bands, tasks))
    return [tuple(int(b) for b in group) for group in np.array_split(np.arange(bands), tasks)]


def _cluster(run: MinhashRun, edge_paths: list[str]) -> tuple[int, int, int, int]:
    """Stage 3 in the driver: components and keepers over global input order; one cluster file per shard.
    Returns ``(clusters with > 1 member, duplicates, documents, bytes of per-document state)``."""
    pa, _ = _pa()
    line_tables = [read_table(run.signature_path(p), ["line"]).column("line").to_numpy() for p in run.documents]
    sizes = np.array([len(t) for t in line_tables], dtype=np.int64)
    offsets = np.cumsum(sizes) - sizes
    n = int(sizes.sum())
    shard_index = {p: i for i, p in enumerate(run.documents)}
    a_parts: list[np.ndarray] = []
    b_parts: list[np.ndarray] = []
    for path in edge_paths:
        edges = read_table(path)
        for side, parts in (("a", a_parts), ("b", b_parts)):
            shard = np.array([shard_index[s] for s in edges.column(f"{side}_shard").to_pylist()], dtype=np.int64)
            line = edges.column(f"{side}_line").to_numpy()
            parts.append(_global_rows(shard, line, line_tables, offsets))
    a = np.concatenate(a_parts) if a_parts else np.zeros(0, np.int64)
    b = np.concatenate(b_parts) if b_parts else np.zeros(0, np.int64)
    labels = components(n, a, b)
    size = component_sizes(labels)
    scores = None
    if run.keeper_paths is not None:
        scores = np.concatenate(
            [read_table(run.signature_path(p), ["keeper_score"]).column(0).to_numpy() for p in run.documents]
        )
    keep = keepers(labels, scores)
    cluster_id = labels
    if scores is not None:  # name a cluster after its keeper
        keeper_of = np.zeros(n, dtype=np.int64)
        keeper_of[labels[keep]] = np.flatnonzero(keep)
        cluster_id = keeper_of[labels]
    duplicate = ~keep
    for i, path in enumerate(run.documents):
        rows = slice(int(offsets[i]), int(offsets[i] + sizes[i]))
        columns = {
            "duplicate": duplicate[rows].astype(np.uint8),
            "cluster_id": cluster_id[rows],
            "cluster_size": size[rows],
        }
        write_table(run.cluster_path(path), columns, {"format": FORMAT, "shard": path})
    state = labels.nbytes + size.nbytes + keep.nbytes + cluster_id.nbytes + sum(t.nbytes for t in line_tables)
    if scores is not None:
        state += scores.nbytes
    return int((np.bincount(labels, minlength=n) > 1).sum()), int(duplicate.sum()), n, int(state)


def _reuse_clusters(run: MinhashRun) -> tuple[int, int, int, int]:
    """The cluster stage's files exist (a restarted run): read its counts back instead of redoing it."""
    ids: list[np.ndarray] = []
    sizes: list[np.ndarray] = []
    duplicates = 0
    for path in run.documents:
        table = read_table(run.cluster_path(path))
        ids.append(table.column("cluster_id").to_numpy())
        sizes.append(table.column("cluster_size").to_numpy())
        duplicates += int(table.column("duplicate").to_numpy().sum())
    cluster_id = np.concatenate(ids) if ids else np.zeros(0, np.int64)
    size = np.concatenate(sizes) if sizes else np.zeros(0, np.int64)
    clusters = len(np.unique(cluster_id[size > 1]))
    return clusters, duplicates, len(cluster_id), int(cluster_id.nbytes + size.nbytes)


def _global_rows(shard: np.ndarray, line: np.ndarray, lines: list[np.ndarray], offsets: np.ndarray) -> np.ndarray:
    """Global input-order row of each ``(shard, line)``."""
    out = np.empty(len(shard), dtype=np.int64)
    for s in np.unique(shard).tolist():
        mask = shard == s
        pos = np.searchsorted(lines[s], line[mask])
        if np.any(pos >= len(lines[s])) or np.any(lines[s][np.minimum(pos, len(lines[s]) - 1)] != line[mask]):
            raise InputError("minhash: an edge names a line missing from its signature file (stale work directory?)")
        out[mask] = offsets[s] + pos
    return out


def _print(run: MinhashRun, outcome: MinhashOutcome, sig_summary: Any, attr_summary: Any) -> None:
    h = run.hashing
    lines = [
        f"dolma dedupe (minhash): {outcome.documents:,} documents, {outcome.clusters:,} clusters of near-duplicates, "
        f"{outcome.duplicates:,} duplicates marked",
        f"  {h.num_perm} bins, {h.bands} bands x {h.rows} rows, {h.ngram_length}-word shingles, threshold "
        f"{run.config.threshold}, verify {run.config.verify}",
        f"  candidate pairs {outcome.candidate_pairs:,}, kept after verification {outcome.verified_pairs:,}",
        f"  signatures: {sig_summary.tasks_run} shard(s) done, {sig_summary.tasks_skipped} skipped (exist); "
        f"attributes: {attr_summary.tasks_run} written, {attr_summary.tasks_skipped} skipped (exist)",
        "  seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in outcome.stage_seconds.items()),
        f"  driver state: {outcome.state_bytes / max(outcome.documents, 1):.0f} bytes per document",
        f"  work directory: {run.work_dir}",
    ]
    lines.extend(f"  note: {note}" for note in sig_summary.notes[:20])
    print("\n".join(lines), file=sys.stderr)
