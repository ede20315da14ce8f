"""The mix task: one input document file (and its attribute files, read in lockstep) in, parts out.

The per-document hot path lives in :meth:`FileTask._documents`: decode the line, merge the attribute
rows, test the filter, replace spans, check the length, the score and the sample, write copies. Every
document ends up either kept or dropped by exactly one named rule, so counts reconcile per file.

A scan task (mode ``"scan"``) runs the same steps up to the sample and records, instead of writing, what
survives: a histogram of id hashes weighted by documents and tokens (for ``target_documents`` /
``target_tokens``), and scores (for ``top_fraction``).
"""

from __future__ import annotations

import io as pyio
import os
from collections.abc import Iterator, KeysView
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
from dolma.mixers.filters import DocumentFilter, compile_path
from dolma.mixers.sampling import HASH_BINS, Sampler, hash_bin
from dolma.mixers.spans import SpanError, SpanRule, apply_replacements
from dolma.mixers.writer import PartWriter

from dolma import io
from dolma.documents import BadLines, document_error
from dolma.errors import FilterError, InputError
from dolma.executors import ProgressCounter, Report, TaskResult
from dolma.tokenizer import word_count


@dataclass(frozen=True)
class StreamSpec:
    """What a task needs to know about its stream; plain data, so it pickles to any worker."""

    name: str
    key: str
    """``streams[i]``: how errors name the stream."""
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    syntax: str = "jsonpath"
    spans: tuple[tuple[str, float | None, float | None, str, str], ...] = ()
    """``(span path, min_score, max_score, replacement, syntax)`` of each span replacement."""
    discard_fields: tuple[str, ...] = ()
    min_text_length: int = 0
    provenance: bool = True
    ext: str = ".jsonl.gz"
    max_bytes: int = 2 << 30
    top_score: str | None = None
    compat: str | None = None
    """``dolma-1.2``: compare numbers in filters as allenai/dolma 1.2.1 does."""


class _AttributeRowRaw(msgspec.Struct):
    id: str
    attributes: dict[str, msgspec.Raw]


class _AttributeRow(msgspec.Struct):
    id: str
    attributes: dict[str, Any]


_decode_json = msgspec.json.decode
_encode_json = msgspec.json.encode
_raw_rows = msgspec.json.Decoder(_AttributeRowRaw)
_full_rows = msgspec.json.Decoder(_AttributeRow)


def _lines(path: str) -> Iterator[tuple[int, bytes]]:
    """``(line_number, line)`` of each non-blank line, without its newline."""
    lineno = 0
    for block in io.iter_line_blocks(path):
        lines = block.split(b"\n")
        if lines and not lines[-1]:
            lines.pop()
        for line in lines:
            lineno += 1
            if line and not line.isspace():
                yield lineno, line


class KeyPresence:
    """Which attribute names (of those the stream reads) one attribute file holds: in every row, and in any
    row. allenai/dolma's taggers write many keys only when true, so a key absent from a row is no match, not
    an error; these sets let the driver tell a sparse key from a typo (no row anywhere holds it) and from a
    stale file (no row holds a key that every row of a sibling file holds)."""

    __slots__ = ("needed", "rows", "always", "ever", "last")

    def __init__(self, needed: set[str] | None) -> None:
        self.needed = needed
        """The names tracked (None: every name)."""
        self.rows = 0
        self.always: set[str] = set()
        self.ever: set[str] = set()
        self.last: set[str] | None = None
        """The previous row's names: most files hold the same names in every row, and such a row changes
        neither set, so it costs one comparison instead of two set operations."""

    def add(self, keys: KeysView[str]) -> None:
        self.rows += 1
        if keys == self.last:
            return
        self.last = set(keys)
        present = self.last if self.needed is None else self.needed.intersection(self.last)
        if self.rows == 1:
            self.always = set(present)
        else:
            self.always.intersection_update(present)
        self.ever.update(present)

    def record(self, path: str) -> dict[str, Any]:
        return {"path": path, "rows": self.rows, "always": sorted(self.always), "ever": sorted(self.ever)}


class Tally:
    """Documents, tokens and bytes: in, kept, written (with repeats) and dropped by rule; also per source."""

    def __init__(self) -> None:
        self.counts: dict[str, list[int]] = {"in": [0, 0, 0], "kept": [0, 0, 0], "written": [0, 0, 0]}
        self.sources: dict[str, dict[str, list[int]]] = {}

    def add(self, bucket: str, source: str, tokens: int, nbytes: int) -> None:
        row = self.counts.get(bucket)
        if row is None:
            row = self.counts[bucket] = [0, 0, 0]
        row[0] += 1
        row[1] += tokens
        row[2] += nbytes
        per_source = self.sources.get(source)
        if per_source is None:
            per_source = self.sources[source] = {}
        cell = per_source.get(bucket)
        if cell is None:
            cell = per_source[bucket] = [0, 0, 0]
        cell[0] += 1
        cell[1] += tokens
        cell[2] += nbytes

    def written(self, source: str, copies: int, tokens: int, nbytes: int) -> None:
        """What was written for a kept document: its output size (after span replacement) times copies."""
        for row in (self.counts["written"], self.sources[source].setdefault("written", [0, 0, 0])):
            row[0] += copies
            row[1] += copies * tokens
            row[2] += copies * nbytes


@dataclass(frozen=True)
class FileTask:
    stream: StreamSpec
    input_index: int
    document_path: str
    attribute_paths: tuple[str, ...]
    work_prefix: str
    """Parts are ``<work_prefix>-NNNNN<ext>``; the record of a finished task ``<work_prefix>.done.json``."""
    mode: str = "mix"
    seed: int = 0
    sampler: Sampler | None = None
    top_threshold: float | None = None
    shuffle: bool = False
    skip_bad_lines: bool = False

    @property
    def label(self) -> str:
        return self.document_path

    @property
    def record_path(self) -> str:
        return f"{self.work_prefix}.scan.npz" if self.mode == "scan" else f"{self.work_prefix}.done.json"

    def outputs(self) -> list[str]:
        return [self.record_path]

    # ------------------------------------------------------------------------------------------- run

    def run(self, report: Report) -> TaskResult:
        spec = self.stream
        doc_filter = DocumentFilter(list(spec.include), list(spec.exclude), spec.syntax, spec.compat)
        span_rules = [SpanRule.compile(*entry) for entry in spec.spans]
        top_path = compile_path(spec.top_score) if spec.top_score else None
        needed: set[str] = set()
        decode_all = False
        for expr in doc_filter.expressions:
            needed |= expr.attribute_names
            decode_all = decode_all or expr.reads_all_attributes
        for rule in span_rules:
            needed |= rule.path.attribute_names
            decode_all = decode_all or rule.path.reads_all_attributes
        if top_path is not None:
            needed |= top_path.attribute_names
            decode_all = decode_all or top_path.reads_all_attributes
        state = _RunState(self, doc_filter, span_rules, top_path, needed, decode_all)
        writer = None
        if self.mode == "mix":
            shuffle_seed = f"{self.seed}/{spec.name}/{self.input_index}" if self.shuffle else None
            writer = PartWriter(self.work_prefix, spec.ext, spec.max_bytes, shuffle_seed)
        try:
            state.process(report, writer)
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        if writer is not None:
            io.write_bytes(self.record_path, _encode_json(state.record(writer.close())))
        else:
            buffer = pyio.BytesIO()
            np.savez(buffer, **state.scan_arrays())  # type: ignore[arg-type]
            io.write_bytes(self.record_path, buffer.getvalue())
        counts = state.tally.counts
        return TaskResult.shard(counts["in"][0], counts["in"][2], state.bad, kept=counts["kept"][0])


class _RunState:
    """The mutable state of one task's run, separated from the picklable task description."""

    def __init__(
        self,
        task: FileTask,
        doc_filter: DocumentFilter,
        span_rules: list[SpanRule],
        top_path: Any,
        needed: set[str],
        decode_all: bool,
    ) -> None:
        self.task = task
        self.doc_filter = doc_filter
        self.span_rules = span_rules
        self.top_path = top_path
        self.needed = needed
        self.decode_all = decode_all
        self.tally = Tally()
        self.bad = BadLines() if task.skip_bad_lines else None
        self.hist_docs = np.zeros(HASH_BINS, dtype=np.int64)
        self.hist_tokens = np.zeros(HASH_BINS, dtype=np.int64)
        self.scores: list[float] = []
        self.score_bins: list[int] = []
        self.score_tokens: list[int] = []
        self.presence = [KeyPresence(None if decode_all else self.needed) for _ in task.attribute_paths]
        self.own_keys: set[str] = set()
        """Attribute names the stream reads that documents carried in their own ``attributes`` field."""

    def _bad(self, where: str) -> None:
        if self.bad is None:
            raise InputError(where)
        self.bad.add(where)

    def _merged_attributes(
        self, readers: list[tuple[str, Iterator[tuple[int, bytes]]]], doc: dict[str, Any], lineno: int
    ) -> dict[str, Any] | None:
        """Read the next row of every attribute file, check its id, and merge the rows (later files win)."""
        if not readers:
            return None
        merged: dict[str, Any] = {}
        doc_id = doc["id"]
        decoder = _full_rows if self.decode_all else _raw_rows
        needed = self.needed
        for (attr_path, reader), presence in zip(readers, self.presence, strict=True):
            row_line = next(reader, None)
            if row_line is None:
                raise InputError(
                    f"{attr_path}: ends before {self.task.document_path}:{lineno} "
                    "(an attribute file must have one line per document line)"
                )
            attr_lineno, raw = row_line
            try:
                row = decoder.decode(raw)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise InputError(f"{attr_path}:{attr_lineno}: bad attribute row: {exc}") from None
            if row.id != doc_id:
                raise InputError(
                    f"{attr_path}:{attr_lineno}: id {row.id!r} does not match id {doc_id!r} of "
                    f"{self.task.document_path}:{lineno} (attribute files must follow their document file)"
                )
            presence.add(row.attributes.keys())
            if self.decode_all:
                merged.update(row.attributes)
            else:
                for key, value in row.attributes.items():
                    merged[key] = _decode_json(value) if key in needed else value
        return merged

    def process(self, report: Report, writer: PartWriter | None) -> None:
        task = self.task
        spec = task.stream
        readers = [(path, _lines(path)) for path in task.attribute_paths]
        rule_of = self.doc_filter.rule
        has_filter = bool(self.doc_filter.include or self.doc_filter.exclude)
        span_rules = self.span_rules
        min_length = spec.min_text_length
        top_path = self.top_path
        threshold = task.top_threshold
        sampler = task.sampler
        seed = task.seed
        scan = task.mode == "scan"
        discard = spec.discard_fields
        provenance_name = os.path.basename(task.document_path)
        add = self.tally.add
        progress = ProgressCounter(report)
        for lineno, line in _lines(task.document_path):
            nbytes = len(line) + 1
            try:
                doc = _decode_json(line)
            except msgspec.DecodeError as exc:
                self._bad(f"{task.document_path}:{lineno}: invalid JSON: {exc}")
                continue
            reason = document_error(doc)
            if reason is not None:
                self._bad(f"{task.document_path}:{lineno}: {reason}")
                continue
            merged = self._merged_attributes(readers, doc, lineno)
            existing = doc.get("attributes")
            if type(existing) is dict and existing and (self.decode_all or self.needed):
                self.own_keys.update(existing.keys() if self.decode_all else self.needed.intersection(existing))
            if merged is not None:
                if type(existing) is dict:
                    existing.update(merged)
                else:
                    doc["attributes"] = merged
            text = doc["text"]
            tokens = word_count(text)
            source = doc.get("source")
            source = source if type(source) is str else ""
            progress.add(nbytes)
            add("in", source, tokens, nbytes)
            try:
                rule = rule_of(doc) if has_filter else None
            except FilterError as exc:
                raise FilterError(f"{task.document_path}:{lineno}: {exc}") from None
            if rule is not None:
                add(rule, source, tokens, nbytes)
                continue
            edited = False
            if span_rules:
                try:
                    found = [r for span_rule in span_rules for r in span_rule.find(doc)]
                except SpanError as exc:
                    raise InputError(f"{task.document_path}:{lineno}: {spec.key}.span_replacement: {exc}") from None
                if found:
                    new_text = apply_replacements(text, found)
                    if new_text != text:
                        doc["text"] = text = new_text
                        edited = True
            if min_length and len(text.encode("utf-8")) < min_length:
                add("output.min_text_length", source, tokens, nbytes)
                continue
            out_tokens = word_count(text) if edited else tokens
            if top_path is not None:
                score = _score(top_path, doc)
                if score is None or (threshold is not None and score < threshold):
                    add("top_fraction", source, tokens, nbytes)
                    continue
                if scan:
                    self.scores.append(score)
                    self.score_bins.append(hash_bin(doc["id"], seed))
                    self.score_tokens.append(out_tokens)
            if scan:
                if top_path is None:
                    b = hash_bin(doc["id"], seed)
                    self.hist_docs[b] += 1
                    self.hist_tokens[b] += out_tokens
                add("kept", source, tokens, nbytes)
                continue
            copies = sampler.copies(doc["id"]) if sampler is not None else 1
            if copies == 0:
                add("sample", source, tokens, nbytes)
                continue
            add("kept", source, tokens, nbytes)
            if not spec.provenance and not edited and merged is None and not any(f in doc for f in discard):
                out = line + b"\n"
            else:
                for name in discard:
                    doc.pop(name, None)
                if spec.provenance:
                    metadata = doc.get("metadata")
                    where = f"{provenance_name}:{lineno}"
                    if type(metadata) is dict:
                        metadata["provenance"] = where
                    elif metadata is None:
                        doc["metadata"] = {"provenance": where}
                out = _encode_json(doc) + b"\n"
            assert writer is not None
            for _ in range(copies):
                writer.add(out)
            self.tally.written(source, copies, out_tokens, len(out))
        for attr_path, reader in readers:
            extra = next(reader, None)
            if extra is not None:
                raise InputError(
                    f"{attr_path}:{extra[0]}: more rows than documents in {task.document_path} "
                    "(an attribute file must have one line per document line)"
                )
        progress.flush()

    def record(self, parts: list[Any]) -> dict[str, Any]:
        """What the driver needs from this task: counts (overall and per source) and the parts written."""
        return {
            "input": self.task.document_path,
            "attributes": list(self.task.attribute_paths),
            "counts": self.tally.counts,
            "sources": self.tally.sources,
            "bad_lines": self.bad.count if self.bad is not None else 0,
            "bad_line_examples": self.bad.examples if self.bad is not None else [],
            "parts": [{"path": p.path, "bytes": p.bytes, "documents": p.documents} for p in parts],
            "presence": {
                "files": [p.record(path) for path, p in zip(self.task.attribute_paths, self.presence, strict=True)],
                "documents": sorted(self.own_keys),
            },
        }

    def scan_arrays(self) -> dict[str, np.ndarray]:
        counts = self.tally.counts
        arrays = {
            "hist_docs": self.hist_docs,
            "hist_tokens": self.hist_tokens,
            "in": np.array(counts["in"], dtype=np.int64),
        }
        if self.top_path is not None:
            arrays["scores"] = np.array(self.scores, dtype=np.float64)
            arrays["score_bins"] = np.array(self.score_bins, dtype=np.int32)
            arrays["score_tokens"] = np.array(self.score_tokens, dtype=np.int64)
        return arrays


def _score(path: Any, doc: dict[str, Any]) -> float | None:
    for node in path.select(doc):
        if type(node) is int or type(node) is float:
            return float(node)
    return None
