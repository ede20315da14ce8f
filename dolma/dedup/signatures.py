"""MinHash signatures: text normalisation, word n-gram shingles, one-permutation hashing with optimal
densification, LSH band hashes, and the similarity estimates built on them.

The signature is one-permutation hashing with optimal densification (Shrivastava, ICML 2017): each shingle is
hashed once and lands in one of ``num_perm`` bins, and empty bins borrow from bins picked by a fixed probe
sequence. Each bin then agrees between two documents with probability equal to their Jaccard similarity, as
with ``num_perm`` independent permutations, at the cost of one hash per shingle instead of ``num_perm``.
"""

from __future__ import annotations

import re
import unicodedata
from array import array
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import xxhash

FORMAT = "dolma-toolkit-minhash-v1"
EMPTY = np.uint64(1 << 32)
_U64 = np.uint64
_GOLDEN = _U64(0x9E3779B97F4A7C15)


def detection_probability(jaccard: np.ndarray | float, bands: int, rows: int) -> np.ndarray:
    """The LSH S-curve: probability that two documents of this Jaccard similarity share a band."""
    return 1.0 - (1.0 - np.asarray(jaccard, dtype=np.float64) ** rows) ** bands


# -------------------------------------------------------------------------------------- normalisation

_PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_NON_WORD = re.compile(r"[^\w\s]|_")
_DIGIT = re.compile(r"\d")
PUNCTUATION_CHOICES = ("split", "keep")


@dataclass(frozen=True)
class Normalisation:
    """How text is turned into words before shingling. Each choice decides which differences between two
    texts MinHash can see: with ``fold_digits`` every digit becomes ``0``, so two tables of different
    numbers in the same layout look identical (the default keeps digits for that reason)."""

    lowercase: bool = True
    strip_accents: bool = True
    punctuation: str = "split"
    """``split``: every punctuation mark (and ``_``) separates words; ``keep``: words are split on whitespace
    only, punctuation stays part of them."""
    fold_digits: bool = False

    @cached_property
    def _ascii_table(self) -> bytes:
        split = self.punctuation == "split"
        return bytes(
            ord(" ") if split and chr(c) in _PUNCTUATION else ord("0") if self.fold_digits and chr(c).isdigit() else c
            for c in range(256)
        )

    def __call__(self, text: str) -> bytes:
        """The normalised text as UTF-8 bytes, ready to split on whitespace."""
        if self.lowercase:
            text = text.lower()
        if not text.isascii():
            if self.strip_accents:
                text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
            if self.punctuation == "split":
                text = _NON_WORD.sub(" ", text)
            if self.fold_digits:
                text = _DIGIT.sub("0", text)
        return text.encode("utf-8", "surrogatepass").translate(self._ascii_table)

    def describe(self) -> str:
        return ",".join(
            [
                "lower" if self.lowercase else "case-kept",
                "nfkd-strip-accents" if self.strip_accents else "accents-kept",
                "punct->space" if self.punctuation == "split" else "punct-kept",
                "digits->0" if self.fold_digits else "digits-kept",
                "split",
            ]
        )


@dataclass(frozen=True)
class Hashing:
    """Everything that defines a signature; stored in every signature file."""

    num_perm: int
    ngram_length: int
    seed: int
    bands: int
    rows: int
    normalisation: Normalisation = Normalisation()

    def meta(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "num_perm": self.num_perm,
            "ngram_length": self.ngram_length,
            "seed": self.seed,
            "bands": self.bands,
            "rows": self.rows,
            "normalisation": self.normalisation.describe(),
            "shingle_hash": "xxh3_64(word, seed) combined per n-gram, splitmix64",
            "signature": "one-permutation hashing, optimal densification",
        }


# ------------------------------------------------------------------------------------------ signatures


def splitmix64(x: np.ndarray) -> np.ndarray:
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
        self._normalise = hashing.normalisation
        self._pad = [0] * (hashing.ngram_length - 1)

    def word_hashes(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Flat word hashes of all ``texts`` (each followed by ``n - 1`` zero pads) and words per text."""
        flat = array("Q")
        counts = array("q")
        seed, normalise = self._seed, self._normalise
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
        return splitmix64(acc[starts[doc] + offset]), doc

    def signatures(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(signatures (docs, num_perm) uint32, empty flags)``."""
        sig, empty, _ = self.signatures_and_shingles(texts, keep_shingles=False)
        return sig, empty

    def signatures_and_shingles(
        self, texts: list[str], keep_shingles: bool
    ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
        """Signatures, empty flags, and (if asked) each document's sorted set of 32-bit shingle hashes, for
        exact verification (see :func:`shingle_sets`)."""
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
                salt = splitmix64(np.full(int(hit.sum()), attempt + 1, dtype=np.uint64))
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
                acc = splitmix64(acc ^ wide[:, j])
            out[:, band] = acc
        if empty_doc.any():
            idx = np.flatnonzero(empty_doc).astype(np.uint64)
            out[empty_doc] = splitmix64(idx[:, None] + _U64(1) + self.band_seeds[None, :] * _U64(7))
        return out


def shingle_sets(hashes: np.ndarray, doc: np.ndarray, n_docs: int) -> tuple[np.ndarray, np.ndarray]:
    """Each document's sorted unique 32-bit shingle hashes, as Arrow-style list ``(offsets, values)``: document
    ``i`` owns ``values[offsets[i]:offsets[i + 1]]``."""
    keys = np.unique((doc.astype(np.uint64) << _U64(32)) | (hashes >> _U64(32)))
    owner = (keys >> _U64(32)).astype(np.int64)
    offsets = np.searchsorted(owner, np.arange(n_docs + 1)).astype(np.int64)
    return offsets, (keys & _U64(0xFFFFFFFF)).astype(np.uint32)


def jaccard_exact_pairs(offsets: np.ndarray, values: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact Jaccard similarity of the shingle sets of rows ``a[i]`` and ``b[i]`` of a list array
    ``(offsets, values)`` of sorted unique sets, for all pairs at once: both sets of every pair are tagged with
    the pair's number and sorted together, and a value met twice within a pair is in both sets. Two empty
    sets have similarity 0."""
    len_a = offsets[a + 1] - offsets[a]
    len_b = offsets[b + 1] - offsets[b]
    pair = np.arange(len(a), dtype=np.uint64)
    keys = np.concatenate(
        [
            (np.repeat(pair, len_a) << _U64(32)) | values[_ranges(offsets[a], len_a)].astype(np.uint64),
            (np.repeat(pair, len_b) << _U64(32)) | values[_ranges(offsets[b], len_b)].astype(np.uint64),
        ]
    )
    keys.sort()
    repeated = keys[1:][keys[1:] == keys[:-1]] >> _U64(32)
    common = np.bincount(repeated.astype(np.int64), minlength=len(a))
    union = len_a + len_b - common
    return np.where(union > 0, common / np.maximum(union, 1), 0.0)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The indices ``starts[i] .. starts[i] + lengths[i] - 1`` of every ``i``, concatenated."""
    total = int(lengths.sum())
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(total, dtype=np.int64) + shift


def jaccard_estimate(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise fraction of agreeing signature bins."""
    return np.asarray((a == b).mean(axis=-1))
