"""Corpus statistics: per-source counts and per-attribute score distributions, computed per shard and merged.

Quantiles come from a bottom-k sample keyed by a hash of (document id, attribute, span index): the sample is
the same whatever the number of workers or the order shards finish in, and merging two samples is taking
the k smallest hashes of their union.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import xxhash

from dolma.documents import Document, read_attributes, read_documents
from dolma.errors import InputError

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


@dataclass
class SourceStats:
    documents: int = 0
    bytes: int = 0
    words: int = 0
    characters: int = 0

    def merge(self, other: SourceStats) -> None:
        self.documents += other.documents
        self.bytes += other.bytes
        self.words += other.words
        self.characters += other.characters


@dataclass
class AttributeStats:
    documents: int = 0
    """documents with at least one span"""
    spans: int = 0
    total: float = 0.0
    minimum: float = float("inf")
    maximum: float = float("-inf")
    sample: list[tuple[int, float]] = field(default_factory=list)
    """max-heap (negated hashes) of the k smallest-hash ``(hash, score)`` pairs"""

    def add(self, key_hash: int, score: float, k: int) -> None:
        self.spans += 1
        self.total += score
        self.minimum = min(self.minimum, score)
        self.maximum = max(self.maximum, score)
        if len(self.sample) < k:
            heapq.heappush(self.sample, (-key_hash, score))
        elif -self.sample[0][0] > key_hash:
            heapq.heapreplace(self.sample, (-key_hash, score))

    def merge(self, other: AttributeStats, k: int) -> None:
        self.documents += other.documents
        self.spans += other.spans
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        for neg_hash, score in other.sample:
            if len(self.sample) < k:
                heapq.heappush(self.sample, (neg_hash, score))
            elif self.sample[0][0] < neg_hash:
                heapq.heapreplace(self.sample, (neg_hash, score))

    def quantiles(self) -> dict[str, float]:
        scores = sorted(score for _, score in self.sample)
        if not scores:
            return {}
        return {f"p{round(q * 100)}": scores[min(int(q * len(scores)), len(scores) - 1)] for q in QUANTILES}

    def summary(self) -> dict[str, float | int]:
        mean = self.total / self.spans if self.spans else 0.0
        out: dict[str, float | int] = {"documents": self.documents, "spans": self.spans, "mean": round(mean, 5)}
        if self.spans:
            out.update(min=self.minimum, max=self.maximum, **self.quantiles())
        return out


@dataclass
class ShardStats:
    sources: dict[str, SourceStats] = field(default_factory=dict)
    attributes: dict[str, AttributeStats] = field(default_factory=dict)

    def merge(self, other: ShardStats, k: int) -> None:
        for name, source in other.sources.items():
            self.sources.setdefault(name, SourceStats()).merge(source)
        for name, attr in other.attributes.items():
            self.attributes.setdefault(name, AttributeStats()).merge(attr, k)


def _span_hash(doc_id: str, key: str, index: int) -> int:
    return xxhash.xxh64_intdigest(f"{doc_id}\x00{key}\x00{index}".encode())


def shard_stats(document_path: str, attribute_paths: list[str], sample_size: int) -> ShardStats:
    """Count one documents shard and the attribute shards aligned with it (ids must match line by line)."""
    stats = ShardStats()
    readers = [read_attributes(path) for path in attribute_paths]
    for lineno, doc, size in read_documents(document_path):
        _count_document(stats, doc, size)
        for path, reader in zip(attribute_paths, readers, strict=True):
            row = next(reader, None)
            if row is None:
                raise InputError(f"{path}: ends before {document_path}:{lineno} (attribute files must align)")
            if row[1].id != doc.id:
                raise InputError(
                    f"{path}:{row[0]}: id {row[1].id!r} does not match {document_path}:{lineno} id {doc.id!r}"
                )
            for key, spans in row[1].attributes.items():
                attr = stats.attributes.setdefault(key, AttributeStats())
                if spans:
                    attr.documents += 1
                for i, span in enumerate(spans):
                    attr.add(_span_hash(doc.id, key, i), float(span[2]), sample_size)
    for path, reader in zip(attribute_paths, readers, strict=True):
        extra = next(reader, None)
        if extra is not None:
            raise InputError(f"{path}:{extra[0]}: more rows than {document_path} has documents")
    return stats


def _count_document(stats: ShardStats, doc: Document, size: int) -> None:
    source = stats.sources.setdefault(doc.source or "", SourceStats())
    source.documents += 1
    source.bytes += size
    source.words += len(doc.text.split())
    source.characters += len(doc.text)
