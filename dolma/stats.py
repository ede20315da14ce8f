"""Corpus statistics: per-source counts and per-attribute score distributions, computed per shard and merged.

Every number a shard task returns merges exactly with any other shard's, so the result is the same whatever
the number of workers or the order shards finish in, and the driver only adds sketches: it never sees a
document. A distribution is a :class:`Sketch`, a histogram over logarithmic buckets (each bucket spans 1% of
its values' magnitude, as in DDSketch), so counts, minimum, maximum and mean are exact, quantiles are within
1% of the true value, and the report can choose its display bins from the data after the merge.

Large corpora are sampled by a seeded hash of the document id (``sample_rate``): a document is in the sample
on every machine and run or on none. Documents and bytes per source are always counted in full (reading the
lines is needed anyway); tokens and attribute distributions come from the sample, and totals are scaled up
from it and marked as estimates.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from dolma import io
from dolma.documents import AttributeRow, BadLines, read_documents
from dolma.errors import InputError
from dolma.hashing import unit_hash
from dolma.tokenizer import load_tokenizer

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
RELATIVE_ACCURACY = 0.01
_GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(_GAMMA)
_SMALLEST = 1e-9
"""Magnitudes below this count as zero (scores are rounded to 5 decimals anyway)."""


@dataclass
class Sketch:
    """A mergeable distribution of numbers: exact count, sum, min and max, and counts per log bucket."""

    count: int = 0
    total: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    zeros: int = 0
    positive: dict[int, int] = field(default_factory=dict)
    negative: dict[int, int] = field(default_factory=dict)
    integral: bool = True
    """True while every value added is a whole number: the report then bins by integers."""

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        if value < self.minimum:
            self.minimum = value
        if value > self.maximum:
            self.maximum = value
        if self.integral and not float(value).is_integer():
            self.integral = False
        if value > _SMALLEST:
            key = math.ceil(math.log(value) / _LOG_GAMMA)
            self.positive[key] = self.positive.get(key, 0) + 1
        elif value < -_SMALLEST:
            key = math.ceil(math.log(-value) / _LOG_GAMMA)
            self.negative[key] = self.negative.get(key, 0) + 1
        else:
            self.zeros += 1

    def merge(self, other: Sketch) -> None:
        self.count += other.count
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        self.zeros += other.zeros
        self.integral = self.integral and other.integral
        for mine, theirs in ((self.positive, other.positive), (self.negative, other.negative)):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n

    def buckets(self) -> Iterator[tuple[float, int]]:
        """``(representative value, count)`` in increasing order of value; a bucket's representative is
        within ``RELATIVE_ACCURACY`` of every value in it, and is clamped to the exact min and max."""
        for key in sorted(self.negative, reverse=True):
            yield self._clamp(-2 * _GAMMA**key / (_GAMMA + 1)), self.negative[key]
        if self.zeros:
            yield 0.0, self.zeros
        for key in sorted(self.positive):
            yield self._clamp(2 * _GAMMA**key / (_GAMMA + 1)), self.positive[key]

    def _clamp(self, value: float) -> float:
        """Within the exact range; whole numbers when every value was one (so a 0/1 flag stays 0 and 1)."""
        value = min(max(value, self.minimum), self.maximum)
        return float(round(value)) if self.integral else value

    def quantile(self, q: float) -> float:
        """The value of rank ``q * (count - 1)`` (0 <= q <= 1), within the sketch's relative accuracy."""
        if not self.count:
            return math.nan
        rank = q * (self.count - 1)
        seen = 0
        for value, n in self.buckets():
            seen += n
            if seen > rank:
                return value
        return self.maximum

    def fraction_below(self, threshold: float) -> float:
        """The fraction of values ``< threshold`` (to the sketch's accuracy near the threshold)."""
        if not self.count:
            return 0.0
        return sum(n for value, n in self.buckets() if value < threshold) / self.count

    def summary(self) -> dict[str, Any]:
        if not self.count:
            return {"count": 0}
        out: dict[str, Any] = {
            "count": self.count,
            "mean": round(self.total / self.count, 5),
            "min": self.minimum,
            "max": self.maximum,
        }
        out.update({f"p{round(q * 100)}": round(self.quantile(q), 5) for q in QUANTILES})
        edges, counts = self.histogram()
        out["histogram"] = {"edges": [round(e, 6) for e in edges], "counts": counts}
        return out

    def histogram(self, max_bins: int = 60) -> tuple[list[float], list[int]]:
        """Display bins chosen from the data: one per integer for small integer ranges, else equal widths
        by the Freedman-Diaconis rule over the 0.5-99.5 percentile range (values outside go to the end
        bins, so a few outliers do not squash the plot), between 10 and ``max_bins`` bins."""
        if not self.count:
            return [], []
        low, high = self.minimum, self.maximum
        if self.integral and high - low <= max_bins:
            edges = [low - 0.5 + i for i in range(int(high - low) + 2)]
        else:
            low, high = self.quantile(0.005), self.quantile(0.995)
            if high <= low:
                low, high = self.minimum, self.maximum
            if high <= low:
                low, high = low - 0.5, high + 0.5
            iqr = self.quantile(0.75) - self.quantile(0.25)
            width = 2 * iqr / self.count ** (1 / 3) if iqr > 0 else 0.0
            bins = max_bins if width <= 0 else int(min(max(math.ceil((high - low) / width), 10), max_bins))
            edges = [low + (high - low) * i / bins for i in range(bins + 1)]
        counts = [0] * (len(edges) - 1)
        step = edges[1] - edges[0]
        for value, n in self.buckets():
            index = min(max(int((value - edges[0]) // step), 0), len(counts) - 1)
            counts[index] += n
        return edges, counts


@dataclass
class SourceStats:
    """Per ``source`` value: every document and byte, and the sample's documents, tokens and characters."""

    documents: int = 0
    bytes: int = 0
    sampled: int = 0
    tokens: int = 0
    characters: int = 0
    tokens_per_document: Sketch = field(default_factory=Sketch)

    def merge(self, other: SourceStats) -> None:
        self.documents += other.documents
        self.bytes += other.bytes
        self.sampled += other.sampled
        self.tokens += other.tokens
        self.characters += other.characters
        self.tokens_per_document.merge(other.tokens_per_document)

    def summary(self) -> dict[str, Any]:
        scale = self.documents / self.sampled if self.sampled else 0.0
        return {
            "documents": self.documents,
            "bytes": self.bytes,
            "sampled_documents": self.sampled,
            "tokens": round(self.tokens * scale),
            "characters": round(self.characters * scale),
            "tokens_per_document": self.tokens_per_document.summary(),
        }


@dataclass
class AttributeStats:
    documents: int = 0
    """sampled documents with at least one span"""
    scores: Sketch = field(default_factory=Sketch)

    def merge(self, other: AttributeStats) -> None:
        self.documents += other.documents
        self.scores.merge(other.scores)

    def summary(self) -> dict[str, Any]:
        return {"documents": self.documents, "spans": self.scores.count, **self.scores.summary()}


@dataclass
class ShardStats:
    sources: dict[str, SourceStats] = field(default_factory=dict)
    attributes: dict[str, AttributeStats] = field(default_factory=dict)
    bad_lines: int = 0

    def merge(self, other: ShardStats) -> None:
        for name, source in other.sources.items():
            self.sources.setdefault(name, SourceStats()).merge(source)
        for name, attr in other.attributes.items():
            self.attributes.setdefault(name, AttributeStats()).merge(attr)
        self.bad_lines += other.bad_lines


@dataclass(frozen=True)
class Sample:
    """Which documents are read in full: those whose seeded id hash is below ``rate``."""

    rate: float = 1.0
    seed: int = 0

    def __contains__(self, doc_id: str) -> bool:
        return self.rate >= 1.0 or unit_hash(doc_id, self.seed) < self.rate

    def describe(self) -> str:
        if self.rate >= 1.0:
            return "every document"
        return f"a {self.rate:.4g} sample of documents by seeded hash of the id (seed {self.seed})"


TOKEN_BATCH = 256
"""Sampled texts counted per tokenizer call (a Hugging Face tokenizer is several times faster in batches)."""


_attribute_decoder = msgspec.json.Decoder(AttributeRow)


class _IdOnly(msgspec.Struct):
    id: str


_id_decoder = msgspec.json.Decoder(_IdOnly)


def _attribute_lines(path: str) -> Iterator[tuple[int, bytes]]:
    lineno = 0
    for block in io.iter_line_blocks(path):
        for line in block.split(b"\n"):
            lineno += 1
            if line and not line.isspace():
                yield lineno, line
        lineno -= 1


def _aligned_row(path: str, reader: Iterator[tuple[int, bytes]], doc_id: str, where: str, decode: bool) -> Any:
    """The next row of an attribute file, checked against the document's id; decoded in full if ``decode``."""
    item = next(reader, None)
    if item is None:
        raise InputError(f"{path}: ends before {where} (attribute files must align)")
    lineno, line = item
    try:
        row = (_attribute_decoder if decode else _id_decoder).decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InputError(f"{path}:{lineno}: bad attribute row: {exc}") from None
    if row.id != doc_id:
        raise InputError(f"{path}:{lineno}: id {row.id!r} does not match {where} id {doc_id!r}")
    return row


def shard_stats(
    document_path: str,
    attribute_paths: list[str],
    sample: Sample = Sample(),
    tokenizer: str | None = None,
    bad_lines: BadLines | None = None,
    name_regex: str | None = None,
) -> ShardStats:
    """Count one documents shard and the attribute shards aligned with it (ids must match line by line);
    tokens with ``tokenizer`` (a ``tokenizer.json``; whitespace words by default); only the attribute names
    in which ``name_regex`` is found, if given."""
    stats = ShardStats()
    pattern = re.compile(name_regex) if name_regex else None
    readers = [_attribute_lines(path) for path in attribute_paths]
    count = load_tokenizer(tokenizer).count
    pending: list[tuple[SourceStats, str]] = []

    def count_pending() -> None:
        for (source, _), tokens in zip(pending, count([text for _, text in pending]), strict=True):
            source.tokens += tokens
            source.tokens_per_document.add(tokens)
        pending.clear()

    for lineno, doc, size in read_documents(document_path, bad_lines):
        source = stats.sources.get(doc.source or "")
        if source is None:
            source = stats.sources[doc.source or ""] = SourceStats()
        source.documents += 1
        source.bytes += size
        sampled = doc.id in sample
        if sampled:
            source.sampled += 1
            source.characters += len(doc.text)
            pending.append((source, doc.text))
            if len(pending) >= TOKEN_BATCH:
                count_pending()
        where = f"{document_path}:{lineno}"
        for path, reader in zip(attribute_paths, readers, strict=True):
            row = _aligned_row(path, reader, doc.id, where, decode=sampled)
            if sampled:
                _add_attributes(stats, row.attributes, pattern)
    count_pending()
    for path, reader in zip(attribute_paths, readers, strict=True):
        extra = next(reader, None)
        if extra is not None:
            raise InputError(f"{path}:{extra[0]}: more rows than {document_path} has documents")
    if bad_lines is not None:
        stats.bad_lines = bad_lines.count
    return stats


def _add_attributes(
    stats: ShardStats, attributes: dict[str, list[list[float]]], pattern: re.Pattern[str] | None
) -> None:
    for key, spans in attributes.items():
        if pattern is not None and not pattern.search(key):
            continue
        attr = stats.attributes.get(key)
        if attr is None:
            attr = stats.attributes[key] = AttributeStats()
        if spans:
            attr.documents += 1
        add = attr.scores.add
        for span in spans:
            add(float(span[2]))


# --------------------------------------------------------------------- dolma 1.x's analyzer summaries

DOLMA_BUCKETS_PER_OCTAVE = 10**5
"""dolma 1.x's ``FixedBucketsValTracker(n=5)``: 10**5 buckets per power of two."""


class DolmaSummary(msgspec.Struct):
    """One line of dolma 1.x's ``summaries.jsonl.gz``: ``counts[i]`` values in ``[bins[i], bins[i + 1])``."""

    name: str
    counts: list[int]
    bins: list[float]
    total: int
    sum: int | float


@dataclass
class FixedBuckets:
    """dolma 1.x's analyzer histogram, kept (rather than our :class:`Sketch`) so that ``dolma stat`` over
    attribute files writes the summaries dolma 1.x writes for the same files: a value falls in the bucket
    ``(floor(mantissa * 10**5), exponent)`` of its ``frexp``; ``summarize`` returns the buckets themselves
    when there are at most ``bins`` of them, else ``bins`` equal-width bins over the bucket values."""

    counts: dict[tuple[int, int], int] = field(default_factory=dict)
    total: int = 0
    sum: int | float = 0
    """An integer while every value is one (lengths), as in dolma's JSON."""

    def add(self, value: float, count: int = 1) -> None:
        self._put(value, count)
        self.total += 1
        self.sum += value * count

    def _put(self, value: float, count: int) -> None:
        mantissa, exponent = math.frexp(value)
        key = (math.floor(mantissa * DOLMA_BUCKETS_PER_OCTAVE), exponent)
        self.counts[key] = self.counts.get(key, 0) + count

    def add_summary(self, summary: DolmaSummary) -> None:
        """dolma's merge of one file's summary: each bin's lower edge goes back in with its count (so a file
        that had more buckets than ``bins`` stays coarse, as in dolma); the count and sum stay exact."""
        for value, count in zip(summary.bins, summary.counts, strict=False):  # one edge more than counts
            self._put(value, count)
        self.total += summary.total
        self.sum += summary.sum

    def summarize(self, name: str, bins: int) -> DolmaSummary:
        values, counts = zip(
            *sorted((m / DOLMA_BUCKETS_PER_OCTAVE * 2**e, c) for (m, e), c in self.counts.items()), strict=True
        )
        if len(values) <= bins:
            mantissa, exponent = math.frexp(max(values))
            upper = (math.floor(mantissa * DOLMA_BUCKETS_PER_OCTAVE) + 1) / DOLMA_BUCKETS_PER_OCTAVE * 2**exponent
            return DolmaSummary(name, list(counts), [*values, upper], self.total, self.sum)
        import numpy

        new_counts, edges = numpy.histogram(values, bins=bins, weights=counts)
        return DolmaSummary(name, new_counts.tolist(), edges.tolist(), self.total, self.sum)


def attribute_file_summaries(path: str, bins: int, name_regex: str | None = None) -> list[DolmaSummary]:
    """dolma 1.x's per-file analysis of an attribute file: for each attribute name (matching ``name_regex``,
    searched anywhere in the name), the distribution of its spans' scores (``<name>/score``) and lengths
    (``<name>/length``); a row where the name holds no span counts as one span ``(0, 0, 0.0)``, and fastText
    label scores above 1 count as 1, as in dolma."""
    pattern = re.compile(name_regex) if name_regex else None
    trackers: dict[str, FixedBuckets] = {}
    for lineno, line in _attribute_lines(path):
        try:
            row = _attribute_decoder.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise InputError(f"{path}:{lineno}: bad attribute row: {exc}") from None
        for name, spans in row.attributes.items():
            if pattern is not None and not pattern.search(name):
                continue
            label = "__label__" in name
            for start, end, score in spans or [[0, 0, 0.0]]:
                trackers.setdefault(f"{name}/score", FixedBuckets()).add(min(score, 1.0) if label else score)
                trackers.setdefault(f"{name}/length", FixedBuckets()).add(int(end) - int(start))
    return [tracker.summarize(name, bins) for name, tracker in trackers.items()]


def merge_summaries(per_file: list[list[DolmaSummary]], bins: int) -> list[DolmaSummary]:
    """dolma 1.x's aggregation of the files' summaries, in file order."""
    trackers: dict[str, FixedBuckets] = {}
    for summaries in per_file:
        for summary in summaries:
            trackers.setdefault(summary.name, FixedBuckets()).add_summary(summary)
    return [tracker.summarize(name, bins) for name, tracker in trackers.items()]
