"""Exact dedup with a Bloom filter (``dolma dedupe`` with ``dedupe.documents`` or ``dedupe.paragraphs``).

Two stages, so the result is the one a single sequential pass would give, whatever the worker count:

1. *keys* (parallel, one executor task per shard): read documents, cut them into *units* (a document, or a
   paragraph: what gets a span) and *keys* (what goes into the filter: the document key, the paragraph, or
   its word n-grams), and write their 64-bit hashes and offsets to a per-shard file in the work directory;
2. *decide and write* (the driver, shards in sorted order, starting on shard ``i`` as soon as its key file
   exists, while later shards are still hashed): test-then-insert the shard's hashes into the Bloom filter,
   vectorised but with exact in-order semantics (:meth:`BloomFilter.test_and_insert`), keep its duplicate
   flags in the work directory, and write its attribute file in dolma's span format. At the end the filter
   is saved with the list of shards it holds, so a rerun never tests a shard against itself.

Writing attributes in the driver was measured faster than a third parallel stage: it costs about a third of
the deciding and saves a second process pool, and the sequential decisions bound the run anyway.

Keys follow allenai/dolma's rules: documents and whole paragraphs have one key per unit; n-gram dedup has
one key per n-gram (every ``stride`` words) and, for a paragraph with fewer than two n-grams, the whole
paragraph as well. Keys are listed in the order dolma tests and inserts them.
"""

from __future__ import annotations

import gc
import json
import re
import threading
import time
from array import array
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
import xxhash

from dolma import io
from dolma.dedup.bloom import BloomFilter, memory_check, plan_size
from dolma.documents import (
    BadLines,
    DocumentFields,
    document_error,
    encode_line,
    iter_decoded,
    read_documents,
    round_score,
)
from dolma.errors import ConfigError, InputError
from dolma.executors import Executor, ProgressCounter, Report, RunSummary, TaskResult

_xxh64 = xxhash.xxh3_64_intdigest

WORDS = re.compile(r"\w+(?:[.,'’:]\w+)*|[^\w\s]")
"""Word units in the spirit of Unicode word segmentation (dolma's ``uniseg`` tokens): words, numbers such as
``2.0``, and each punctuation mark on its own; whitespace is dropped."""

NGRAM_JOIN = "\x1f"

KIND_NGRAM = 0
KIND_WHOLE = 1


@dataclass(frozen=True)
class KeySpec:
    """The dedupe settings that decide which keys a document yields. Their fingerprint is stored in the Bloom
    filter so a filter is never reused with keys made differently."""

    mode: str  # "documents" or "paragraphs"
    attribute_name: str
    key: str = "$.text"
    separator: str = "\n"
    ngram_length: int = 0
    stride: int = 0
    overlap_threshold: float = 1.0
    skip_short_paragraphs: bool = False
    skip_empty: bool = False
    min_length: int = 0
    min_words: int = 0

    def fingerprint(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode, "skip_empty": self.skip_empty, "min_length": self.min_length}
        out["min_words"] = self.min_words
        if self.mode == "documents":
            out["key"] = self.key
        else:
            out["separator"] = self.separator
            out["ngram_length"] = self.ngram_length
            out["stride"] = self.stride
            out["skip_short_paragraphs"] = self.skip_short_paragraphs
        return out

    @property
    def by_ngram(self) -> bool:
        return self.mode == "paragraphs" and self.ngram_length > 0


# ----------------------------------------------------------------------------------------------- JSONPath

_PATH_PART = re.compile(r"\.([A-Za-z_][\w-]*)|\[(\d+)\]|\[['\"]([^'\"]+)['\"]\]")


def compile_path(expr: str) -> tuple[str | int, ...]:
    """Parse the JSONPath subset dolma's document keys use: ``$.a.b``, ``$['a']``, ``$.a[0]``."""
    if not expr.startswith("$"):
        raise ConfigError(f"dedupe.documents.key: {expr!r} is not a JSONPath (it must start with $, e.g. $.text)")
    parts: list[str | int] = []
    pos = 1
    while pos < len(expr):
        match = _PATH_PART.match(expr, pos)
        if match is None:
            raise ConfigError(
                f"dedupe.documents.key: cannot parse {expr!r} at {expr[pos:]!r}; use $.field.sub or $['field']"
            )
        name, index, quoted = match.groups()
        parts.append(int(index) if index is not None else (name or quoted))
        pos = match.end()
    if not parts:
        raise ConfigError("dedupe.documents.key: $ alone selects the whole document; name a field, e.g. $.text")
    return tuple(parts)


def select(obj: Any, path: tuple[str | int, ...]) -> str | None:
    """The string at ``path`` in ``obj`` (numbers and booleans as their JSON text), or None if absent."""
    for part in path:
        if isinstance(part, int):
            if not isinstance(obj, list) or part >= len(obj):
                return None
        elif not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    if obj is None or isinstance(obj, (dict, list)):
        return None
    if isinstance(obj, bool):
        return "true" if obj else "false"
    return obj if isinstance(obj, str) else str(obj)


# -------------------------------------------------------------------------------------------- key builder


class ShardKeys:
    """Accumulates one shard's units and key hashes in compact arrays (no per-key Python objects kept)."""

    def __init__(self, spec: KeySpec) -> None:
        self.spec = spec
        self.unit_doc = array("q")
        self.unit_start = array("q")
        self.unit_end = array("q")
        self.unit_ngrams = array("q")
        self.key_unit = array("q")
        self.key_kind = array("B")
        self.hashes = array("Q")
        self._bsep = spec.separator.encode()
        self._simple = spec.mode == "paragraphs" and not spec.by_ngram and not (spec.min_words or spec.skip_empty)
        self._piece_len = array("q")
        self._doc_pieces = array("q")
        self._doc_index = array("q")

    def _unit(self, doc: int, start: int, end: int, ngrams: int = 0) -> int:
        self.unit_doc.append(doc)
        self.unit_start.append(start)
        self.unit_end.append(end)
        self.unit_ngrams.append(ngrams)
        return len(self.unit_doc) - 1

    def _key(self, unit: int, kind: int, key: bytes) -> None:
        self.key_unit.append(unit)
        self.key_kind.append(kind)
        self.hashes.append(_xxh64(key))

    def _eligible(self, piece: str) -> bool:
        """dolma's checks: min_length, then min_words (when set), else skip_empty."""
        spec = self.spec
        if len(piece) < spec.min_length:
            return False
        if spec.min_words > 0:
            return len(WORDS.findall(piece)) >= spec.min_words
        return not (spec.skip_empty and not piece.strip())

    def add_document(self, doc: int, text: str, key: str | None) -> None:
        if self.spec.mode == "documents":
            if key is not None and self._eligible(key):
                self._key(self._unit(doc, 0, len(text)), KIND_WHOLE, key.encode("utf-8", "surrogatepass"))
        elif not text:
            return
        elif self._simple:
            self._add_pieces(doc, text)
        else:
            self._add_paragraphs(doc, text)

    def _add_pieces(self, doc: int, text: str) -> None:
        """Whole-paragraph keys, the hot path: bulk split/hash/len in C, offsets later in numpy."""
        pieces = text.encode("utf-8", "surrogatepass").split(self._bsep)
        self.hashes.extend(map(_xxh64, pieces))
        self._piece_len.extend(map(len, pieces) if text.isascii() else map(len, text.split(self.spec.separator)))
        self._doc_pieces.append(len(pieces))
        self._doc_index.append(doc)

    def _add_paragraphs(self, doc: int, text: str) -> None:
        spec = self.spec
        sep = spec.separator
        pieces = text.split(sep)
        start = 0
        last = len(pieces) - 1
        for i, piece in enumerate(pieces):
            end = start + len(piece) + (len(sep) if i < last else 0)
            if end > start and self._eligible(piece):
                if spec.by_ngram:
                    self._add_ngrams(doc, start, end, piece)
                else:
                    self._key(self._unit(doc, start, end), KIND_WHOLE, piece.encode("utf-8", "surrogatepass"))
            start = end

    def _add_ngrams(self, doc: int, start: int, end: int, piece: str) -> None:
        spec = self.spec
        size, step = spec.ngram_length, max(spec.stride, 1)
        words = WORDS.findall(piece)
        starts = range(0, len(words) - size + 1, step)
        unit = self._unit(doc, start, end, len(starts))
        for s in starts:
            self._key(unit, KIND_NGRAM, NGRAM_JOIN.join(words[s : s + size]).encode("utf-8", "surrogatepass"))
        if len(starts) < 2 and not spec.skip_short_paragraphs:
            self._key(unit, KIND_WHOLE, piece.encode("utf-8", "surrogatepass"))

    def _simple_arrays(self) -> dict[str, np.ndarray]:
        lengths = np.frombuffer(self._piece_len, dtype=np.int64)
        per_doc = np.frombuffer(self._doc_pieces, dtype=np.int64)
        doc_of = np.repeat(np.frombuffer(self._doc_index, dtype=np.int64), per_doc)
        last = np.zeros(len(lengths), dtype=bool)
        last[np.cumsum(per_doc) - 1] = True
        width = lengths + np.where(last, 0, len(self.spec.separator))
        ends = np.cumsum(width)
        doc_first = np.repeat(np.cumsum(per_doc) - per_doc, per_doc)
        base = (ends - width)[doc_first] if len(ends) else ends
        ends = ends - base
        starts = ends - width
        keep = (ends > starts) & (lengths >= self.spec.min_length)
        n = int(keep.sum())
        return {
            "hashes": np.frombuffer(self.hashes, dtype=np.uint64)[keep],
            "unit_doc": doc_of[keep],
            "unit_start": starts[keep],
            "unit_end": ends[keep],
            "unit_ngrams": np.zeros(n, dtype=np.int64),
            "key_unit": np.arange(n, dtype=np.int64),
            "key_kind": np.full(n, KIND_WHOLE, dtype=np.uint8),
        }

    def arrays(self) -> dict[str, np.ndarray]:
        if self._simple:
            return self._simple_arrays()
        return {
            "hashes": np.frombuffer(self.hashes, dtype=np.uint64),
            "unit_doc": np.frombuffer(self.unit_doc, dtype=np.int64),
            "unit_start": np.frombuffer(self.unit_start, dtype=np.int64),
            "unit_end": np.frombuffer(self.unit_end, dtype=np.int64),
            "unit_ngrams": np.frombuffer(self.unit_ngrams, dtype=np.int64),
            "key_unit": np.frombuffer(self.key_unit, dtype=np.int64),
            "key_kind": np.frombuffer(self.key_kind, dtype=np.uint8),
        }


def unit_scores(spec: KeySpec, arrays: dict[str, np.ndarray], dup: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(units_with_a_span, their_scores)`` from per-key duplicate flags, following dolma's rules: a whole
    document or paragraph is a span with score 1 when it is a duplicate; with n-grams the score is the
    fraction of duplicate n-grams (or 1/0 from the whole paragraph when it has fewer than two n-grams), and
    the span is written when the score reaches ``overlap_threshold``."""
    n_units = len(arrays["unit_doc"])
    key_unit, kind = arrays["key_unit"], arrays["key_kind"]
    whole = kind == KIND_WHOLE
    has_whole = np.zeros(n_units, dtype=bool)
    has_whole[key_unit[whole]] = True
    whole_dup = np.zeros(n_units, dtype=bool)
    whole_dup[key_unit[whole & dup]] = True
    if not spec.by_ngram:
        units = np.flatnonzero(whole_dup)
        return units, np.ones(len(units))
    ngram = ~whole
    dup_ngrams = np.bincount(key_unit[ngram & dup], minlength=n_units)
    counts = arrays["unit_ngrams"]
    scores = np.where(has_whole, whole_dup.astype(float), dup_ngrams / np.maximum(counts, 1))
    scored = has_whole | (counts >= 2)
    fraction = scores.astype(np.float32)  # dolma compares and writes a 32-bit fraction
    keep = scored & (fraction >= np.float32(spec.overlap_threshold))
    units = np.flatnonzero(keep)
    return units, scores[units]


def unit_spans(spec: KeySpec, arrays: dict[str, np.ndarray], dup: np.ndarray) -> list[list[list[Any]]]:
    """Per document, its spans ``[start, end, score]`` in dolma's format: score ``1`` for a duplicate document
    or paragraph, the duplicate n-gram fraction (rounded to 5 decimals) with ``by_ngram``. Spans come out
    in document order, so each document's list is one slice of a flat list."""
    n_docs = int(arrays["n_docs"])
    units, scores = unit_scores(spec, arrays, dup)
    starts = arrays["unit_start"][units].tolist()
    ends = arrays["unit_end"][units].tolist()
    values: list[Any] = [round_score(s) for s in scores.tolist()] if spec.by_ngram else [1] * len(units)
    flat = list(map(list, zip(starts, ends, values, strict=True)))
    bounds = np.searchsorted(arrays["unit_doc"][units], np.arange(n_docs + 1)).tolist()
    return [flat[bounds[i] : bounds[i + 1]] for i in range(n_docs)]


# ------------------------------------------------------------------------------------ reading documents

_generic = msgspec.json.Decoder(dict[str, Any])
_DOCUMENT_FIELDS = ("text", "id", "source")


_id_text = msgspec.json.Decoder(DocumentFields)
"""Paragraph dedup reads only ``id`` and ``text``: the narrowest decoder that still validates a document as
every command does."""


def iter_keyed(path: str, spec: KeySpec, bad: BadLines | None) -> Any:
    """Yield ``(id, text, key or None, n_bytes)`` per document. Keys on ``text``, ``id``, ``source`` and
    ``metadata`` use the narrow document decoder; any other field decodes the whole line."""
    parts = compile_path(spec.key)
    head = parts[0]
    if head in _DOCUMENT_FIELDS or head == "metadata":
        for _, doc, size in read_documents(path, bad):
            if head == "metadata":
                key = select(doc.meta, parts[1:])
            else:
                key = select({head: getattr(doc, head)}, parts)
            yield doc.id, doc.text, key, size
        return
    for lineno, obj, size in iter_decoded(path, _generic, bad):
        reason = document_error(obj)
        if reason is not None:
            where = f"{path}:{lineno}: {reason}"
            if bad is None:
                raise InputError(where)
            bad.add(where)
            continue
        yield obj["id"], obj["text"], select(obj, parts), size


def check_key_selects(spec: KeySpec, path: str, sample: int = 100) -> None:
    """Refuse a document key that selects no string in the first documents (dolma writes empty attributes
    or panics in that case)."""
    if spec.mode != "documents":
        return
    seen = 0
    for _id, _text, key, _size in iter_keyed(path, spec, BadLines()):
        if key is not None:
            return
        seen += 1
        if seen >= sample:
            break
    if seen:
        raise ConfigError(
            f"dedupe.documents.key: {spec.key} selects no string value in the first {seen} documents of {path}; "
            "nothing would be deduplicated (check the field name, e.g. $.text or $.metadata.url)"
        )


# ----------------------------------------------------------------------------------------- stage files


STAGE_MAGIC = b"DLMAARR1"


def save_arrays(path: str, arrays: dict[str, np.ndarray]) -> None:
    """A stage file: ``STAGE_MAGIC``, an 8-byte header length, a JSON header (name -> dtype, shape, offset),
    then the raw arrays 8-byte aligned. Unlike ``np.savez`` there is no zip layer or CRC to compute, and
    loading is a zero-copy view of the bytes read."""
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
    if data[:8] != STAGE_MAGIC:
        raise InputError(f"{path}: not a dedupe stage file")
    size = int.from_bytes(data[8:16], "little")
    start = 16 + size
    out = {}
    for name, (dtype, shape, offset) in json.loads(data[16:start]).items():
        dt = np.dtype(dtype)
        count = int(np.prod(shape)) if shape else 1
        out[name] = np.frombuffer(data, dtype=dt, count=count, offset=start + offset).reshape(tuple(shape))
    return out


def _digest(hashes: np.ndarray) -> str:
    return xxhash.xxh3_64_hexdigest(np.ascontiguousarray(hashes).tobytes())


# ----------------------------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class KeyTask:
    """Stage 1: one documents shard in, one file of unit offsets and key hashes out."""

    document_path: str
    key_path: str
    spec: KeySpec
    skip_bad_lines: bool = False

    @property
    def label(self) -> str:
        return self.document_path

    def outputs(self) -> list[str]:
        return [self.key_path]

    def run(self, report: Report) -> TaskResult:
        bad = BadLines() if self.skip_bad_lines else None
        keys = ShardKeys(self.spec)
        ids: list[str] = []
        docs = nbytes = missing = 0
        progress = ProgressCounter(report)
        gc_was_enabled = gc.isenabled()
        gc.disable()  # millions of short-lived strings: the collector would rescan the id list each time
        try:
            if self.spec.mode == "paragraphs":
                add = keys.add_document
                for _, doc, size in iter_decoded(self.document_path, _id_text, bad):
                    add(len(ids), doc.text, None)
                    ids.append(doc.id)
                    nbytes += size
                    progress.add(size)
            else:
                for doc_id, text, key, size in iter_keyed(self.document_path, self.spec, bad):
                    keys.add_document(len(ids), text, key)
                    missing += key is None
                    ids.append(doc_id)
                    nbytes += size
                    progress.add(size)
            docs = len(ids)
            arrays = keys.arrays()
            arrays["ids"] = np.frombuffer(msgspec.msgpack.encode(ids), dtype=np.uint8)
            arrays["n_docs"] = np.asarray(docs)
        finally:
            if gc_was_enabled:
                gc.enable()
        save_arrays(self.key_path, arrays)
        progress.flush()
        counters = {"files": 1, "documents": docs, "bytes": nbytes, "keys": len(arrays["hashes"])}
        if self.spec.mode == "documents" and missing:
            counters["documents_without_key"] = missing
        notes: list[str] = []
        if bad is not None and bad.count:
            counters["bad_lines"] = bad.count
            notes = bad.examples
        return TaskResult(counters=counters, notes=notes)


def write_attributes(
    spec: KeySpec, arrays: dict[str, np.ndarray], dup: np.ndarray, attribute_path: str
) -> tuple[int, int]:
    """One attribute row per document, in shard order. Returns ``(spans, documents with a span)``."""
    spans = unit_spans(spec, arrays, dup)
    ids = msgspec.msgpack.decode(arrays["ids"].tobytes())
    name = spec.attribute_name
    marked_docs = 0
    lines = []
    for doc_id, doc_spans in zip(ids, spans, strict=True):
        marked_docs += bool(doc_spans)
        lines.append(encode_line({"id": doc_id, "attributes": {name: doc_spans}}))
    with io.atomic_write(attribute_path) as out:
        out.write(b"".join(lines))
    return sum(len(s) for s in spans), marked_docs


# ------------------------------------------------------------------------------------------- the run


@dataclass
class ExactRun:
    """A planned exact dedupe: the shards in input order and where everything goes."""

    spec: KeySpec
    documents: list[str]
    attribute_paths: list[str]
    bloom_file: str
    read_only: bool
    work_dir: str
    size_in_bytes: int = 0
    estimated_doc_count: int = 0
    desired_false_positive_rate: float = 0.0
    skip_bad_lines: bool = False
    overwrite: bool = False

    def _stem(self, path: str) -> str:
        token = json.dumps([path, self.spec.fingerprint(), self.read_only], sort_keys=True)
        return xxhash.xxh3_64_hexdigest(token.encode())

    def key_path(self, path: str) -> str:
        return io.join(self.work_dir, "keys", self._stem(path) + ".arrays")

    def decision_path(self, path: str) -> str:
        return io.join(self.work_dir, "decisions", self._stem(path) + ".arrays")


@dataclass
class ExactOutcome:
    counters: dict[str, int]
    notes: list[str]
    shards_inserted: int
    shards_already_in_filter: int
    attributes_written: int
    attributes_kept: int
    bloom: dict[str, Any]


def run_exact(run: ExactRun, executor: Executor) -> ExactOutcome:
    """Run the stages; see the module docstring. Refuses, before any work, to redo a shard the filter
    already holds unless its earlier decisions are still in the work directory."""
    bloom = _load_filter(run)
    recorded: dict[str, int] = {} if run.read_only or bloom is None else dict(bloom.header.get("shards", {}))
    sizes = {path: io.size(path) for path in run.documents}
    for path in run.documents:
        if path in recorded and recorded[path] != sizes[path]:
            raise InputError(
                f"{path}: size changed since it was inserted into {run.bloom_file} ({recorded[path]} -> "
                f"{sizes[path]} bytes); delete the filter file to dedupe the new data from scratch"
            )
    redo = run.overwrite
    attribute_of = dict(zip(run.documents, run.attribute_paths, strict=True))
    need_attr = {p for p in run.documents if redo or not io.exists(attribute_of[p])}
    new = {p for p in run.documents if p not in recorded} if not run.read_only else need_attr
    for path in sorted(need_attr):
        if path in recorded and not io.exists(run.decision_path(path)):
            raise ConfigError(
                f"{path} is already in the Bloom filter {run.bloom_file} but its attributes are missing and its "
                "earlier decisions are gone from the work directory; testing it again would mark it a duplicate "
                "of itself. Delete the filter file (and the attributes) to start over, or use a new filter file"
            )
    staged = [p for p in run.documents if p in new or p in need_attr]
    key_tasks = [KeyTask(p, run.key_path(p), run.spec, run.skip_bad_lines) for p in staged]
    stage1 = _Stage1(key_tasks, executor, redo)
    counters: dict[str, int] = {"duplicate_keys": 0, "spans_marked": 0, "documents_marked": 0}
    if bloom is None and any(p in new for p in staged):
        bloom = _new_filter(run, stage1)
    for path in staged:
        arrays = stage1.wait_for(run.key_path(path))
        if path in new:
            assert bloom is not None
            dup = _decide(run, bloom, path, arrays["hashes"], sizes[path])
            counters["duplicate_keys"] += int(dup.sum())
        else:
            dup = _stored_decisions(run, path, arrays["hashes"])
        if path in need_attr:
            spans, docs = write_attributes(run.spec, arrays, dup, attribute_of[path])
            counters["spans_marked"] += spans
            counters["documents_marked"] += docs
    summary = stage1.wait_all()
    if bloom is not None and not run.read_only and any(p in new for p in staged):
        bloom.save(run.bloom_file)
    for path in staged:
        io.remove(run.key_path(path))
    counters.update(summary.counters)
    info: dict[str, Any] = {}
    if bloom is not None:
        info = {
            "file": run.bloom_file,
            "size_in_bytes": bloom.size_in_bytes,
            "num_hashes": bloom.num_hashes,
            "keys_inserted": int(bloom.header.get("keys_inserted", 0)),
            "shards": len(bloom.header.get("shards", {})),
        }
    return ExactOutcome(
        counters=counters,
        notes=summary.notes,
        shards_inserted=0 if run.read_only else len(new),
        shards_already_in_filter=sum(p in recorded for p in run.documents),
        attributes_written=len(need_attr),
        attributes_kept=len(run.documents) - len(need_attr),
        bloom=info,
    )


class _Stage1:
    """The key tasks, run by the executor in a background thread so the driver can decide shard ``i`` (in
    order) as soon as its key file exists, while later shards are still being hashed."""

    def __init__(self, tasks: list[KeyTask], executor: Executor, overwrite: bool) -> None:
        if tasks:
            executor.workers  # noqa: B018 - connects to the engine here: Ray wants the main thread
        self.tasks = tasks
        self.summary: RunSummary | None = None
        self.error: BaseException | None = None

        def work() -> None:
            try:
                self.summary = executor.run(tasks, desc="dedupe: keys", overwrite=overwrite)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the driver thread
                self.error = exc

        self.thread = threading.Thread(target=work, name="dedupe-keys", daemon=True)
        self.thread.start()

    def wait_for(self, key_path: str) -> dict[str, np.ndarray]:
        """Poll for the key file: every 5 ms locally (a stat call), every 100 ms on S3 (a HEAD request).
        A backing-off poll measured 20% slower end to end on 500 MB: the driver overslept most shards."""
        delay = 0.1 if io.is_s3(key_path) else 0.005
        while not io.exists(key_path):
            if not self.thread.is_alive():
                self.wait_all()
                if not io.exists(key_path):
                    raise InputError(f"{key_path}: key file missing after its task finished")
                break
            time.sleep(delay)
        return load_arrays(key_path)

    def wait_all(self) -> Any:
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.summary


def _new_filter(run: ExactRun, stage1: _Stage1) -> BloomFilter:
    """Sized from the config; with ``size_in_bytes`` alone the number of hashes follows the number of keys,
    so that case waits for every key file first."""
    total = 0
    if run.size_in_bytes > 0 and run.estimated_doc_count <= 0:
        stage1.wait_all()
        total = sum(len(load_arrays(task.key_path)["hashes"]) for task in stage1.tasks)
    bits, k = plan_size(run.size_in_bytes, run.estimated_doc_count, run.desired_false_positive_rate, total)
    memory_check(bits)
    bloom = BloomFilter.empty(bits, k)
    bloom.header = {"keys": run.spec.fingerprint(), "shards": {}, "keys_inserted": 0}
    return bloom


def _decide(run: ExactRun, bloom: BloomFilter, path: str, hashes: np.ndarray, size: int) -> np.ndarray:
    """One shard against the filter, exact in-order semantics; its flags are kept in the work directory."""
    if run.read_only:
        dup = bloom.contains(hashes)
    else:
        dup = bloom.test_and_insert(hashes)
        bloom.header["shards"][path] = size
        bloom.header["keys_inserted"] = int(bloom.header.get("keys_inserted", 0)) + int((~dup).sum())
    save_arrays(run.decision_path(path), {"dup": np.packbits(dup), "digest": np.asarray(_digest(hashes))})
    return dup


def _stored_decisions(run: ExactRun, path: str, hashes: np.ndarray) -> np.ndarray:
    decision = load_arrays(run.decision_path(path))
    if str(decision["digest"]) != _digest(hashes):
        raise InputError(
            f"{path}: its keys differ from those the Bloom filter decisions were made on (the shard changed "
            "since); delete the filter file to start over"
        )
    return np.unpackbits(decision["dup"], count=len(hashes)).astype(bool)


def _load_filter(run: ExactRun) -> BloomFilter | None:
    if not io.exists(run.bloom_file):
        if run.read_only:
            raise ConfigError(
                f"bloom_filter.file: {run.bloom_file} does not exist; read_only needs a filter built by an "
                "earlier run (e.g. over the evaluation set to decontaminate against)"
            )
        return None
    bloom = BloomFilter.load(run.bloom_file)
    built_with = bloom.header.get("keys")
    if built_with != run.spec.fingerprint():
        raise ConfigError(
            f"bloom_filter.file: {run.bloom_file} holds keys made with {built_with}, but this config makes "
            f"{run.spec.fingerprint()}; matches between them would be meaningless. Use another filter file"
        )
    return bloom
