"""Tokenize a mix into the numpy layout OLMo trains from (allenai/dolma's ``tokens`` layout).

Output, per group of input files ``g`` (one file per group unless ``files_per_process`` says more)::

    <destination>/part-<g>-<k:05d>.npy     token ids: a headerless flat array (uint16, or uint32 when the
                                            vocabulary has more than 65,536 ids), documents back to back,
                                            each followed by EOS (and preceded by BOS if configured)
    <destination>/part-<g>-<k:05d>.csv.gz  one ``start,end,id,src,loc`` row per document: its token range in
                                            that .npy (end exclusive, EOS included), id, input file, line (1-based)

As in allenai/dolma, a document's text is stripped of surrounding whitespace and skipped if nothing is left,
EOS is not doubled when the text already ends with it, and ``max_size`` caps the tokens in one file: a file
holds fewer than ``max_size`` tokens (a single longer document gets a file of its own; documents are never cut).

Determinism: input files are sorted, then shuffled with the seed; a group reads its files round-robin
(``ring_size`` open at once) and shuffles each batch of ``batch_size`` documents with a generator seeded by
(seed, group). Nothing depends on the number of workers or which one runs a group.

Resume: a group's first file (``-00000``) is moved into place last, so its existence means the whole group is
done; the executor skips such groups. A group that was interrupted is redone whole, and leftover parts with
higher numbers from an earlier run are removed.
"""

from __future__ import annotations

import csv
import hashlib
import io as pyio
import math
import os
import random
import re
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from itertools import chain
from typing import IO, Any

import msgspec
import numpy as np

from dolma import io
from dolma.documents import BadLines, iter_decoded
from dolma.errors import ConfigError, InputError
from dolma.executors import Executor, ProgressCounter, Report, TaskResult
from dolma.outcome import Outcome
from dolma.tokenizer import HFTokenizer, load_tokenizer

NPY = ".npy"
CSV = ".csv.gz"
PARQUET = ".parquet"


@dataclass(frozen=True)
class TokenizeSpec:
    """What every task needs; plain data, so it pickles to any worker."""

    tokenizer: str
    """Path of the tokenizer.json (loaded once per worker)."""
    eos_token_id: int
    bos_token_id: int | None = None
    dtype: str = "uint16"
    max_tokens: int = 1 << 30
    batch_size: int = 10_000
    ring_size: int = 8
    sample_ring_prop: bool = False
    text_field: str = "text"
    id_field: str | None = "id"
    encode_special_tokens: bool = False
    skip_bad_lines: bool = False


@dataclass(frozen=True)
class Doc:
    id: str
    src: str
    loc: int
    text: str
    nbytes: int


# ---------------------------------------------------------------------------------------------- reading


def _nested_struct(name: str, fields: list[tuple[list[str], Any]]) -> Any:
    """A msgspec struct that decodes only the (possibly dotted) fields we read, e.g. ``text`` or ``a.b``."""
    top: dict[str, list[tuple[list[str], Any]]] = {}
    for path, kind in fields:
        top.setdefault(path[0], []).append((path[1:], kind))
    spec = []
    for key, subs in top.items():
        leaf = [kind for rest, kind in subs if not rest]
        spec.append((key, leaf[0] if leaf else _nested_struct(f"{name}_{key}", [s for s in subs if s[0]])))
    return msgspec.defstruct(name, spec)


def _getter(path: list[str]) -> Any:
    def get(row: Any) -> Any:
        for key in path:
            row = getattr(row, key)
        return row

    return get


def _jsonl_docs(path: str, spec: TokenizeSpec, bad: BadLines | None) -> Iterator[Doc]:
    fields: list[tuple[list[str], Any]] = [(spec.text_field.split("."), str)]
    if spec.id_field:
        fields.append((spec.id_field.split("."), str | int))
    decoder = msgspec.json.Decoder(_nested_struct("TokensRow", fields))
    text_of = _getter(spec.text_field.split("."))
    id_of = _getter(spec.id_field.split(".")) if spec.id_field else None
    path_hash = hashlib.sha256(path.encode()).hexdigest()
    for loc, row, nbytes in iter_decoded(path, decoder, bad):
        doc_id = str(id_of(row)) if id_of else f"{path_hash}-{loc}"
        yield Doc(doc_id, path, loc, text_of(row), nbytes)


def _parquet_docs(path: str, spec: TokenizeSpec) -> Iterator[Doc]:
    """Rows of a Parquet file (the mixer writes ``id`` and ``text`` columns); ``loc`` is the 1-based row."""
    import pyarrow.parquet as pq

    for name in (spec.text_field, spec.id_field):
        if name and "." in name:
            raise ConfigError(f"fields: {name!r}: nested fields are not supported for Parquet input ({path})")
    try:
        parquet = pq.ParquetFile(pyio.BytesIO(io.read_bytes(path)))
    except Exception as exc:  # pyarrow raises its own ArrowInvalid family
        raise InputError(f"{path}: not a readable Parquet file: {exc}") from exc
    columns = [spec.text_field] + ([spec.id_field] if spec.id_field else [])
    missing = [c for c in columns if c not in parquet.schema_arrow.names]
    if missing:
        raise InputError(f"{path}: no column {missing[0]!r} (columns: {', '.join(parquet.schema_arrow.names)})")
    path_hash = hashlib.sha256(path.encode()).hexdigest()
    loc = 0
    for batch in parquet.iter_batches(columns=columns, batch_size=4096):
        texts = batch.column(spec.text_field).to_pylist()
        ids = batch.column(spec.id_field).to_pylist() if spec.id_field else [None] * len(texts)
        for text, doc_id in zip(texts, ids, strict=True):
            loc += 1
            if not isinstance(text, str):
                raise InputError(f"{path}: row {loc}: {spec.text_field!r} is not a string")
            yield Doc(str(doc_id) if spec.id_field else f"{path_hash}-{loc}", path, loc, text, len(text))


def read_docs(path: str, spec: TokenizeSpec, bad: BadLines | None) -> Iterator[Doc]:
    if path.endswith(PARQUET):
        return _parquet_docs(path, spec)
    return _jsonl_docs(path, spec, bad)


class Ring:
    """Documents from up to ``size`` files at once, taken round-robin (or, with ``proportional``, a file
    chosen at random weighted by its size), so a batch mixes several files as allenai/dolma's ring does."""

    def __init__(
        self, paths: list[str], spec: TokenizeSpec, bad: BadLines | None, rng: random.Random, sizes: list[int]
    ) -> None:
        self.waiting = deque(zip(paths, sizes, strict=True))
        self.spec = spec
        self.bad = bad
        self.rng = rng
        self.open: list[tuple[Iterator[Doc], int]] = []
        self.turn = 0
        self.files_done = 0
        while self.waiting and len(self.open) < max(1, spec.ring_size):
            self._open_next()

    def _open_next(self) -> None:
        path, size = self.waiting.popleft()
        self.open.append((read_docs(path, self.spec, self.bad), size))

    def __iter__(self) -> Iterator[Doc]:
        while self.open:
            if self.spec.sample_ring_prop and len(self.open) > 1:
                weights = [max(size, 1) for _, size in self.open]
                j = self.rng.choices(range(len(self.open)), weights=weights)[0]
            else:
                j = self.turn % len(self.open)
            doc = next(self.open[j][0], None)
            if doc is None:
                self.open.pop(j)
                self.files_done += 1
                if self.waiting:
                    self._open_next()
                continue
            self.turn = j + 1
            yield doc


# ---------------------------------------------------------------------------------------------- writing


def part_path(prefix: str, index: int, ext: str) -> str:
    return f"{prefix}-{index:05d}{ext}"


class PartWriter:
    """Size-capped ``.npy`` + ``.csv.gz`` pairs under ``<prefix>-<k:05d>``. Every part is written under a
    temporary name; part 0 is moved into place last (see the module docstring: it marks the group done)."""

    def __init__(self, prefix: str, dtype: np.dtype[Any], max_tokens: int, stack: ExitStack) -> None:
        self.prefix = prefix
        self.dtype = dtype
        self.max_tokens = max_tokens
        self.stack = stack
        self.index = -1
        self.part_stack: ExitStack | None = None
        self.tokens_out: IO[bytes] | None = None
        self.rows_out: Any = None
        self.written = 0
        self._open()

    def _open(self) -> None:
        if self.part_stack is not None and self.index > 0:
            self.part_stack.close()  # commits part >= 1 now; part 0 stays open until the group is done
        self.index += 1
        self.part_stack = self.stack.enter_context(ExitStack())
        self.tokens_out = self.part_stack.enter_context(io.atomic_write_stored(part_path(self.prefix, self.index, NPY)))
        self.rows_out = self.part_stack.enter_context(io.atomic_write(part_path(self.prefix, self.index, CSV)))
        self.written = 0

    def write(self, flat: np.ndarray, lengths: list[int], docs: list[Doc]) -> None:
        """Append documents (their ids back to back in ``flat``), opening a new part whenever the next
        document would bring the current one to ``max_tokens``."""
        done = 0  # documents of this call written so far
        lo = 0  # where they end in ``flat``
        while done < len(docs):
            assert self.tokens_out is not None
            rows = pyio.StringIO()
            out = csv.writer(rows, lineterminator="\n")
            cursor = self.written
            while done < len(docs):
                n = lengths[done]
                if cursor + n >= self.max_tokens and cursor > 0:
                    break
                doc = docs[done]
                out.writerow((cursor, cursor + n, doc.id, doc.src, doc.loc))
                cursor += n
                done += 1
            hi = lo + cursor - self.written
            self.tokens_out.write(flat[lo:hi].tobytes())
            self.rows_out.write(rows.getvalue().encode())
            self.written, lo = cursor, hi
            if done < len(docs):
                self._open()

    @property
    def parts(self) -> int:
        return self.index + 1


def remove_stale_parts(prefix: str, keep: int) -> int:
    """Delete parts numbered ``keep`` and above of this group, left by an earlier run with other settings."""
    directory, stem = prefix.rsplit("/", 1) if "/" in prefix else (".", prefix)
    pattern = re.compile(re.escape(stem) + r"-(\d{5})(\.npy|\.csv\.gz)$")
    removed = 0
    listing = io.list_files(directory + "/") if io.is_s3(directory) else _local_files(directory)
    for path in listing:
        match = pattern.match(path.rsplit("/", 1)[-1])
        if match and int(match.group(1)) >= keep:
            io.remove(path)
            removed += 1
    return removed


def _local_files(directory: str) -> list[str]:
    return [os.path.join(directory, name) for name in os.listdir(directory)] if os.path.isdir(directory) else []


# ------------------------------------------------------------------------------------------------ task


@dataclass(frozen=True)
class TokenizeTask:
    """One group of input files -> its ``part-<g>-*`` files."""

    inputs: tuple[str, ...]
    prefix: str
    seed: int
    group: int
    spec: TokenizeSpec

    @property
    def label(self) -> str:
        return self.prefix

    def outputs(self) -> list[str]:
        return [part_path(self.prefix, 0, NPY), part_path(self.prefix, 0, CSV)]

    def run(self, report: Report) -> TaskResult:
        saved = os.environ.get("TOKENIZERS_PARALLELISM")
        os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one core per task: the executor spreads the tasks
        try:
            return self._run(report)
        finally:
            if saved is None:
                os.environ.pop("TOKENIZERS_PARALLELISM", None)
            else:
                os.environ["TOKENIZERS_PARALLELISM"] = saved

    def _run(self, report: Report) -> TaskResult:
        spec = self.spec
        tokenizer = load_tokenizer(spec.tokenizer)
        assert isinstance(tokenizer, HFTokenizer)
        dtype = np.dtype(spec.dtype)
        rng = random.Random(f"{self.seed}-{self.group}")
        bad = BadLines() if spec.skip_bad_lines else None
        sizes = [io.size(p) for p in self.inputs] if spec.sample_ring_prop else [1] * len(self.inputs)
        ring = Ring(list(self.inputs), spec, bad, rng, sizes)
        progress = ProgressCounter(report)
        counters = {"documents": 0, "bytes": 0, "tokens": 0, "empty_skipped": 0}
        with ExitStack() as stack:
            writer = PartWriter(self.prefix, dtype, spec.max_tokens, stack)
            batch: list[Doc] = []
            for doc in ring:
                counters["documents"] += 1
                counters["bytes"] += doc.nbytes
                progress.add(doc.nbytes)
                if not doc.text.strip():
                    counters["empty_skipped"] += 1
                    continue
                batch.append(doc)
                if len(batch) >= spec.batch_size:
                    counters["tokens"] += self._write_batch(batch, tokenizer, writer, dtype, rng)
                    batch = []
            if batch:
                counters["tokens"] += self._write_batch(batch, tokenizer, writer, dtype, rng)
            progress.flush()
            assert writer.part_stack is not None
            if writer.index > 0:
                writer.part_stack.close()
            remove_stale_parts(self.prefix, writer.parts)
            # leaving the stack commits part 0 last: from now on the group counts as done
        result = TaskResult.shard(counters.pop("documents"), counters.pop("bytes"), bad, parts=writer.parts, **counters)
        result.counters["files"] = len(self.inputs)
        return result

    def _write_batch(
        self, batch: list[Doc], tokenizer: HFTokenizer, writer: PartWriter, dtype: np.dtype[Any], rng: random.Random
    ) -> int:
        """Encode a batch in one call, add BOS/EOS, shuffle the documents, append them; returns tokens written."""
        spec = self.spec
        encoded = tokenizer.encode([doc.text.strip() for doc in batch], spec.encode_special_tokens)
        bos, eos = spec.bos_token_id, spec.eos_token_id
        for ids in encoded:
            if bos is not None and (not ids or ids[0] != bos):
                ids.insert(0, bos)
            if not ids or ids[-1] != eos:
                ids.append(eos)
        order = list(range(len(batch)))
        rng.shuffle(order)
        seqs = [encoded[i] for i in order]
        lengths = [len(ids) for ids in seqs]
        total = sum(lengths)
        flat = np.fromiter(chain.from_iterable(seqs), dtype=dtype, count=total)
        writer.write(flat, lengths, [batch[i] for i in order])
        return total


# ------------------------------------------------------------------------------------------------ plan


def group_inputs(paths: list[str], seed: int, files_per_group: int | None) -> list[list[str]]:
    """Sorted paths shuffled with ``seed``, cut into groups of ``files_per_group`` (default one file each):
    a function of the config alone, never of the number of workers."""
    ordered = sorted(paths)
    random.Random(seed).shuffle(ordered)
    size = max(1, files_per_group or 1)
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


def group_prefixes(destination: str, groups: int) -> list[str]:
    """``part-<g>`` with as many digits as allenai/dolma uses for the same number of groups."""
    digits = max(1, math.ceil(math.log10(groups + 1)))
    return [io.join(destination, f"part-{g:0{digits}d}") for g in range(groups)]


@dataclass(frozen=True)
class TokensRun:
    destination: str
    spec: TokenizeSpec
    tasks: list[TokenizeTask]
    vocab_size: int


def _checked_spec(spec: TokenizeSpec) -> tuple[TokenizeSpec, int]:
    """Check the token ids and the dtype against the tokenizer's vocabulary; fill in what was left to it."""
    tokenizer = load_tokenizer(spec.tokenizer)
    if not isinstance(tokenizer, HFTokenizer):
        raise ConfigError("tokenizer.name_or_path: `dolma tokens` needs a tokenizer.json, not whitespace words")
    vocab = tokenizer.vocab_size
    eos = vocab - 1 if spec.eos_token_id == -1 else spec.eos_token_id  # allenai/dolma's legacy default
    for key, value in (("eos_token_id", eos), ("bos_token_id", spec.bos_token_id)):
        if value is not None and not 0 <= value < vocab:
            raise ConfigError(f"tokenizer.{key}: {value} is not an id of {spec.tokenizer} (0..{vocab - 1})")
    dtype = np.dtype(spec.dtype) if spec.dtype else tokenizer.dtype
    if dtype.kind != "u" or np.iinfo(dtype).max < vocab - 1:
        raise ConfigError(
            f"dtype: {dtype.name} cannot hold the {vocab:,} ids of {spec.tokenizer}; use {tokenizer.dtype.name}"
        )
    return replace(spec, eos_token_id=eos, dtype=dtype.name), vocab


def plan_tokens(
    documents: list[str], destination: str, spec: TokenizeSpec, seed: int, files_per_group: int | None
) -> TokensRun:
    """Validate everything and list one task per group of input files; no document is read here."""
    spec, vocab = _checked_spec(spec)
    paths = io.expand_globs(documents, "documents")
    groups = group_inputs(paths, seed, files_per_group)
    prefixes = group_prefixes(destination.rstrip("/"), len(groups))
    tasks = [
        TokenizeTask(tuple(g), prefix, seed, i, spec)
        for i, (g, prefix) in enumerate(zip(groups, prefixes, strict=True))
    ]
    return TokensRun(destination, spec, tasks, vocab)


def run_tokens(run: TokensRun, executor: Executor) -> Outcome:
    summary = executor.run(run.tasks, desc="tokens")
    lines = [
        f"output: {run.destination} (part-*.npy as {run.spec.dtype}, EOS id {run.spec.eos_token_id}"
        + (f", BOS id {run.spec.bos_token_id})" if run.spec.bos_token_id is not None else ")"),
        f"tokenizer: {run.spec.tokenizer} ({run.vocab_size:,} ids)",
    ]
    return Outcome.of("dolma tokens", summary, lines=lines)
