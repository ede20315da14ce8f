"""Deterministic sampling: how many copies of a document a stream keeps, from a seeded hash of its id.

A rate ``r`` keeps ``floor(r)`` whole copies of every document plus one more when the document's hash
``h`` in [0, 1) is below the fractional part, so the decision depends on the id and seed only: never on
workers, executor or order. A target (documents or tokens) becomes a rate in a first pass that counts what
survives the filters in a histogram of hashes, so the threshold lands within one histogram bin of the
target while memory stays flat. ``top_fraction`` needs the scores themselves to find its percentile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dolma.hashing import unit_hash

HASH_BINS = 1 << 14


@dataclass(frozen=True)
class Sampler:
    """``copies(id) = whole + (unit_hash(id, seed) < threshold)``."""

    whole: int
    threshold: float
    seed: int

    @classmethod
    def from_rate(cls, rate: float, seed: int) -> Sampler:
        whole = math.floor(rate)
        return cls(whole, rate - whole, seed)

    @property
    def rate(self) -> float:
        return self.whole + self.threshold

    def copies(self, doc_id: str) -> int:
        if self.threshold <= 0.0:
            return self.whole
        return self.whole + (unit_hash(doc_id, self.seed) < self.threshold)


def hash_bin(doc_id: str, seed: int) -> int:
    return int(unit_hash(doc_id, seed) * HASH_BINS)


def sampler_for_target(histogram: np.ndarray, target: float, seed: int) -> Sampler:
    """The sampler whose expected kept weight is ``target``, given the weight (documents or tokens) of
    the surviving documents in each hash bin. The fractional threshold interpolates within the bin where
    the cumulative weight crosses the remainder."""
    total = float(histogram.sum())
    if total <= 0:
        return Sampler(0, 0.0, seed)
    whole = math.floor(target / total)
    remainder = target - whole * total
    if remainder <= 0:
        return Sampler(int(whole), 0.0, seed)
    cumulative = np.cumsum(histogram, dtype=np.float64)
    crossing = int(np.searchsorted(cumulative, remainder, side="left"))
    if crossing >= len(histogram):
        return Sampler(int(whole) + 1, 0.0, seed)
    before = cumulative[crossing - 1] if crossing > 0 else 0.0
    in_bin = float(histogram[crossing])
    within = (remainder - before) / in_bin if in_bin > 0 else 0.0
    return Sampler(int(whole), float((crossing + within) / len(histogram)), seed)


def top_threshold(scores: np.ndarray, fraction: float) -> float:
    """The score at the ``1 - fraction`` percentile: keeping ``score >= threshold`` keeps the top
    ``ceil(fraction * n)`` documents (more when scores tie at the threshold)."""
    if scores.size == 0:
        return math.inf
    keep = max(1, math.ceil(fraction * scores.size))
    if keep >= scores.size:
        return float(scores.min())
    return float(np.partition(scores, scores.size - keep)[scores.size - keep])
