"""Deterministic sampling: how many copies of a document a stream keeps, from a seeded hash of its id.

A rate ``r`` keeps ``floor(r)`` whole copies of every document plus one more when the document's hash
``h`` in [0, 1) is below the fractional part, so the decision depends on the id and seed only: never on
workers, executor or order. A target (documents or tokens) becomes a rate in a first pass that counts what
survives the filters in a histogram of hashes, so the threshold lands within one histogram bin of the
target while memory stays flat. ``top_fraction`` finds its percentile exactly by a radix select whose
histograms tasks compute from the scores they hold (:func:`top_threshold`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
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


RADIX_BITS = 16
RADIX_ROUNDS = 64 // RADIX_BITS


def order_keys(scores: np.ndarray) -> np.ndarray:
    """``uint64`` keys that sort as the float64 scores do (sign bit flipped for positives, every bit for
    negatives), so the k-th score can be found digit by digit with histograms."""
    bits = np.ascontiguousarray(scores, dtype=np.float64).view(np.uint64)
    negative = (bits >> np.uint64(63)).astype(bool)
    return np.where(negative, ~bits, bits | np.uint64(1 << 63))


def score_of_key(key: int) -> float:
    bits = key & ~(1 << 63) if key >> 63 else ~key & ((1 << 64) - 1)
    return float(np.array([bits], dtype=np.uint64).view(np.float64)[0])


def digit_histogram(keys: np.ndarray, prefix: int, known_bits: int) -> np.ndarray:
    """Counts of the next :data:`RADIX_BITS` bits among keys whose top ``known_bits`` bits are ``prefix``."""
    if known_bits:
        keys = keys[(keys >> np.uint64(64 - known_bits)) == np.uint64(prefix)]
    shift = np.uint64(64 - known_bits - RADIX_BITS)
    digits = ((keys >> shift) & np.uint64((1 << RADIX_BITS) - 1)).astype(np.int64)
    return np.bincount(digits, minlength=1 << RADIX_BITS)


def top_threshold(histogram_of: Callable[[int, int], np.ndarray], fraction: float) -> float:
    """The score at the ``1 - fraction`` percentile, so that keeping ``score >= threshold`` keeps the top
    ``ceil(fraction * n)`` documents (more when scores tie at it); ``inf`` when there are no scores.

    A radix select over :func:`order_keys`: ``histogram_of(prefix, known_bits)`` returns the counts of the
    next :data:`RADIX_BITS` bits among all keys whose top ``known_bits`` bits are ``prefix`` (summed over
    every shard, by tasks), and four rounds pin the exact score without ever holding the scores."""
    prefix = known = 0
    rank = -1
    for _ in range(RADIX_ROUNDS):
        histogram = histogram_of(prefix, known)
        cumulative = np.cumsum(histogram)
        if rank < 0:
            count = int(cumulative[-1])
            if not count:
                return math.inf
            rank = max(0, count - max(1, math.ceil(fraction * count)))
        digit = int(np.searchsorted(cumulative, rank, side="right"))
        rank -= int(cumulative[digit - 1]) if digit else 0
        prefix, known = (prefix << RADIX_BITS) | digit, known + RADIX_BITS
    return score_of_key(prefix)
