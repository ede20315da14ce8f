"""Longest repeated n-gram: the longest run of words (or characters) that occurs at least twice in a document.

A long repeated passage marks boilerplate, scraped duplicates inside one page and degenerate generated text.
The search is a binary search on the length, each step hashing every window of that length at once with a
polynomial rolling hash (numpy, two 31-bit prime moduli, so a 62-bit key) and looking for equal keys:
``O(n log^2 n)`` vectorised work for ``n`` tokens, with no per-token Python loop beyond tokenising. Unlike a
backtracking regex (``(.+?)\\1+``, whose time explodes on some inputs), its cost depends only on the length.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np

from dolma import Document, Span, Tagger, TaggerParams, document_span, tagger

_WORD = re.compile(r"\S+")
_MODULI = (2_147_483_647, 2_147_483_629)
_BASES = (1_000_003, 911_382_323)


def _powers(base: int, modulus: int, n: int) -> np.ndarray:
    """``base**j % modulus`` for ``j < n``, by doubling (``log n`` vector steps)."""
    out = np.ones(max(n, 1), dtype=np.uint64)
    size = 1
    step = base % modulus
    while size < n:
        take = min(size, n - size)
        out[size : size + take] = out[:take] * np.uint64(step) % np.uint64(modulus)
        step = step * step % modulus
        size += take
    return out


class _WindowHasher:
    """Hashes of every length-``L`` window of a token-id sequence, for any ``L``, in O(n) vector work each."""

    def __init__(self, ids: np.ndarray) -> None:
        n = len(ids)
        self.n = n
        self.tables = []
        for base, modulus in zip(_BASES, _MODULI, strict=True):
            m = np.uint64(modulus)
            terms = (ids.astype(np.uint64) % m) * _powers(base, modulus, n) % m
            prefix = np.zeros(n + 1, dtype=np.uint64)
            np.cumsum(terms, out=prefix[1:])  # < n * 2**31: no overflow below 2**32 tokens
            prefix %= m
            inverse = _powers(pow(base, modulus - 2, modulus), modulus, n)
            self.tables.append((m, prefix, inverse))

    def keys(self, length: int) -> np.ndarray:
        """A 62-bit key per window start ``i`` (``i + length <= n``), equal for equal windows."""
        count = self.n - length + 1
        key = np.zeros(count, dtype=np.uint64)
        for m, prefix, inverse in self.tables:
            diff = (prefix[length : length + count] + m - prefix[:count]) % m
            key = (key << np.uint64(31)) | (diff * inverse[:count] % m)
        return key


def _first_repeat(keys: np.ndarray) -> tuple[int, int] | None:
    """The two earliest starts of the earliest-starting window that occurs twice, or None."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    same = np.flatnonzero(ordered[1:] == ordered[:-1])
    if len(same) == 0:
        return None
    best = same[np.argmin(order[same])]
    return int(order[best]), int(order[best + 1])


def longest_repeat(ids: np.ndarray) -> tuple[int, tuple[int, int] | None]:
    """``(length, (first_start, second_start))`` of the longest window occurring twice (``(0, None)`` if none).

    Valid for a binary search: if a window of length ``L`` repeats, so does its prefix of length ``L - 1``."""
    if len(ids) < 2:
        return 0, None
    hasher = _WindowHasher(ids)
    lo, hi, found = 0, len(ids) - 1, None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        pair = _first_repeat(hasher.keys(mid))
        if pair is None:
            hi = mid - 1
        else:
            lo, found = mid, pair
    return lo, found


def tokenize(text: str, unit: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Token ids with their character start and end offsets."""
    if unit == "char":
        ids = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        starts = np.arange(len(text), dtype=np.int64)
        return ids, starts, starts + 1
    vocab: dict[str, int] = {}
    ids_list, starts_list, ends_list = [], [], []
    for match in _WORD.finditer(text):
        ids_list.append(vocab.setdefault(match.group(), len(vocab)))
        starts_list.append(match.start())
        ends_list.append(match.end())
    return np.array(ids_list, dtype=np.uint32), np.array(starts_list), np.array(ends_list)


@tagger("repetition")
class Repetition(Tagger):
    """Longest repeated n-gram of words (or characters): its length, its share of the text and its spans."""

    attributes = ("longest_repeated_ngram", "longest_repeated_fraction", "longest_repeated_spans")

    class Params(TaggerParams):
        unit: Literal["word", "char"] = "word"
        """word: whitespace-separated words; char: Unicode characters (for text without spaces; slower)."""

    def predict(self, doc: Document) -> dict[str, list[Span]]:
        text = doc.text
        ids, starts, ends = tokenize(text, self.params.unit)
        length, pair = longest_repeat(ids)
        spans: list[Span] = []
        fraction = 0.0
        if pair is not None:
            spans = [(int(starts[i]), int(ends[i + length - 1]), length) for i in pair]
            fraction = (spans[0][1] - spans[0][0]) / len(text)
        return {
            "longest_repeated_ngram": document_span(text, length),
            "longest_repeated_fraction": document_span(text, fraction),
            "longest_repeated_spans": spans,
        }
