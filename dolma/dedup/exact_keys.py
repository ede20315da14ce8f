"""Exact dedup keys: which units (a document, or a paragraph: what gets a span) and keys (what goes into the
Bloom filter: the document key, the paragraph, or its word n-grams) a document yields, and the spans written
from per-key duplicate flags.

Keys follow allenai/dolma's rules: documents and whole paragraphs have one key per unit; n-gram dedup has
one key per n-gram (every ``stride`` words) and, for a paragraph with fewer than two n-grams, the whole
paragraph as well. Keys are listed in the order dolma tests and inserts them.
"""

from __future__ import annotations

import gc
import re
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
import xxhash

from dolma.documents import BadLines, DocumentFields, document_error, iter_decoded, read_documents, round_score
from dolma.errors import ConfigError, InputError
from dolma.executors import ProgressCounter

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
    dolma_ngram_starts: bool = False
    """allenai/dolma 1.2.1's n-gram starts with a stride: 0, 1, 1 + stride, 1 + 2 * stride... (it marks "no
    n-gram taken yet" with a start of 0, so the n-gram after the first is always taken too)."""

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
            if self.dolma_ngram_starts and self.stride > 1:
                out["dolma_ngram_starts"] = True
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
        self.key_bytes = array("q")
        """Documents mode: the UTF-8 length of each unit's key (allenai/dolma's span end for a duplicate)."""
        self.empty_docs = array("q")
        self.dolma_end = array("q")
        """Paragraphs mode: each unit's end as allenai/dolma 1.2.1 computes it (see :meth:`_dolma_ends`)."""
        self._doc_bytes = array("q")
        """Paragraphs mode: documents with empty text (allenai/dolma writes no attribute key for them)."""

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
                encoded = key.encode("utf-8", "surrogatepass")
                self._key(self._unit(doc, 0, len(text)), KIND_WHOLE, encoded)
                self.key_bytes.append(len(encoded))
        elif not text:
            self.empty_docs.append(doc)
            return
        elif self._simple:
            self._add_pieces(doc, text)
        else:
            self._add_paragraphs(doc, text)

    def _add_pieces(self, doc: int, text: str) -> None:
        """Whole-paragraph keys, the hot path: bulk split/hash/len in C, offsets later in numpy."""
        encoded = text.encode("utf-8", "surrogatepass")
        pieces = encoded.split(self._bsep)
        self._doc_bytes.append(len(encoded))
        self.hashes.extend(map(_xxh64, pieces))
        self._piece_len.extend(map(len, pieces) if text.isascii() else map(len, text.split(self.spec.separator)))
        self._doc_pieces.append(len(pieces))
        self._doc_index.append(doc)

    def _add_paragraphs(self, doc: int, text: str) -> None:
        spec = self.spec
        sep = spec.separator
        pieces = text.split(sep)
        nbytes = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
        start = 0
        last = len(pieces) - 1
        for i, piece in enumerate(pieces):
            end = start + len(piece) + (len(sep) if i < last else 0)
            if end > start and self._eligible(piece):
                self.dolma_end.append(self._dolma_ends(start + len(piece), nbytes))
                if spec.by_ngram:
                    self._add_ngrams(doc, start, end, piece)
                else:
                    self._key(self._unit(doc, start, end), KIND_WHOLE, piece.encode("utf-8", "surrogatepass"))
            start = end

    def _add_ngrams(self, doc: int, start: int, end: int, piece: str) -> None:
        spec = self.spec
        size, step = spec.ngram_length, max(spec.stride, 1)
        words = WORDS.findall(piece)
        count = len(words) - size + 1
        starts: Sequence[int] = range(0, count, step)
        if spec.dolma_ngram_starts and step > 1 and count > 1:
            starts = [0, *range(1, count, step)]  # as allenai/dolma 1.2.1 picks them
        unit = self._unit(doc, start, end, len(starts))
        for s in starts:
            self._key(unit, KIND_NGRAM, NGRAM_JOIN.join(words[s : s + size]).encode("utf-8", "surrogatepass"))
        if len(starts) < 2 and not spec.skip_short_paragraphs:
            self._key(unit, KIND_WHOLE, piece.encode("utf-8", "surrogatepass"))

    @staticmethod
    def _dolma_ends(piece_end: Any, text_bytes: Any) -> Any:
        """allenai/dolma 1.2.1 ends a paragraph's span one past the paragraph when its end (in characters) is
        below the text's length in bytes minus one: so the last paragraph of a text with multi-byte
        characters gets one more than the text holds, and a paragraph followed only by a final separator
        gets none. Offsets of texts split by a multi-character separator differ further (dolma counts one
        character per separator); ours are the right ones."""
        return piece_end + (piece_end < text_bytes - 1)

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
        text_bytes = np.repeat(np.frombuffer(self._doc_bytes, dtype=np.int64), per_doc)
        dolma_end = self._dolma_ends(starts + lengths, text_bytes).astype(np.int64)
        return {
            "hashes": np.frombuffer(self.hashes, dtype=np.uint64)[keep],
            "unit_doc": doc_of[keep],
            "unit_start": starts[keep],
            "unit_end": ends[keep],
            "unit_ngrams": np.zeros(n, dtype=np.int64),
            "key_unit": np.arange(n, dtype=np.int64),
            "key_kind": np.full(n, KIND_WHOLE, dtype=np.uint8),
            "dolma_end": dolma_end[keep],
        }

    def arrays(self) -> dict[str, np.ndarray]:
        """The shard's arrays in key order (``hashes``, ``key_unit``, ``key_kind``) and unit order."""
        out = self._simple_arrays() if self._simple else self._general_arrays()
        if self.spec.mode == "documents":
            out["key_bytes"] = np.frombuffer(self.key_bytes, dtype=np.int64)
        else:
            out["empty_docs"] = np.frombuffer(self.empty_docs, dtype=np.int64)
            out.setdefault("dolma_end", np.frombuffer(self.dolma_end, dtype=np.int64))
        return out

    def _general_arrays(self) -> dict[str, np.ndarray]:
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


def unit_spans(
    spec: KeySpec, arrays: dict[str, np.ndarray], dup: np.ndarray, dolma_shape: bool = False
) -> list[list[list[Any]]]:
    """Per document, its spans ``[start, end, score]`` in dolma's format: score ``1`` for a duplicate document
    or paragraph, the duplicate n-gram fraction (rounded to 5 decimals) with ``by_ngram``. Spans come out
    in document order, so each document's list is one slice of a flat list.

    ``dolma_shape`` reproduces allenai/dolma 1.2.1's values: a duplicate document's span ends at its key's
    length in UTF-8 bytes (not the text's), a paragraph's where dolma ends it (:meth:`ShardKeys._dolma_ends`),
    and an n-gram score is the 32-bit fraction unrounded."""
    n_docs = int(arrays["n_docs"])
    units, scores = unit_scores(spec, arrays, dup)
    starts = arrays["unit_start"][units].tolist()
    ends_of = "unit_end" if not dolma_shape else "key_bytes" if spec.mode == "documents" else "dolma_end"
    ends = arrays[ends_of][units].tolist()
    values: list[Any]
    if not spec.by_ngram:
        values = [1] * len(units)
    elif dolma_shape:
        values = scores.astype(np.float32).astype(float).tolist()
    else:
        values = [round_score(s) for s in scores.tolist()]
    flat = list(map(list, zip(starts, ends, values, strict=True)))
    bounds = np.searchsorted(arrays["unit_doc"][units], np.arange(n_docs + 1)).tolist()
    return [flat[bounds[i] : bounds[i + 1]] for i in range(n_docs)]


def dolma_absent(spec: KeySpec, arrays: dict[str, np.ndarray], spans: list[list[list[Any]]]) -> np.ndarray:
    """Which documents allenai/dolma 1.2.1 writes without the attribute key: in documents mode, those whose
    key was tested and found new (a skipped key, too short or empty, gets ``[]``); in paragraphs mode, those
    with empty text."""
    absent = np.zeros(int(arrays["n_docs"]), dtype=bool)
    if spec.mode == "documents":
        absent[arrays["unit_doc"]] = True
        absent &= np.array([not s for s in spans], dtype=bool)
    else:
        absent[arrays["empty_docs"]] = True
    return absent


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


@dataclass
class ShardKeyArrays:
    arrays: dict[str, np.ndarray]
    """:meth:`ShardKeys.arrays` plus ``ids`` (the documents' ids, msgpack) and ``n_docs``."""
    documents: int
    bytes: int
    without_key: int


def read_shard_keys(
    path: str, spec: KeySpec, bad: BadLines | None, progress: ProgressCounter, keys: ShardKeys | None = None
) -> ShardKeyArrays:
    """Read one documents shard into its key arrays: the per-document loop of exact dedup (into ``keys``,
    e.g. one that tests an allenai/dolma filter instead of hashing)."""
    keys = keys or ShardKeys(spec)
    ids: list[str] = []
    nbytes = missing = 0
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of short-lived strings: the collector would rescan the id list each time
    try:
        if spec.mode == "paragraphs":
            add = keys.add_document
            for _, doc, size in iter_decoded(path, _id_text, bad):
                add(len(ids), doc.text, None)
                ids.append(doc.id)
                nbytes += size
                progress.add(size)
        else:
            for doc_id, text, key, size in iter_keyed(path, spec, bad):
                keys.add_document(len(ids), text, key)
                missing += key is None
                ids.append(doc_id)
                nbytes += size
                progress.add(size)
        arrays = keys.arrays()
        arrays["ids"] = np.frombuffer(msgspec.msgpack.encode(ids), dtype=np.uint8)
        arrays["n_docs"] = np.asarray(len(ids))
    finally:
        if gc_was_enabled:
            gc.enable()
    return ShardKeyArrays(arrays=arrays, documents=len(ids), bytes=nbytes, without_key=missing)
