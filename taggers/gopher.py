"""Gopher quality and repetition statistics (Rae et al. 2021, "Scaling Language Models", appendix A).

Two taggers, every statistic its own document-level attribute, so thresholds are chosen in the mixer:

- ``gopher``: word counts and lengths, symbol ratio, bullet and ellipsis lines, alphabetic words, stop words.
- ``gopher_repetition``: duplicate lines and paragraphs, top 2/3/4-gram and duplicate 5..10-gram character
  fractions.

Attributes named as in allenai/dolma's ``gopher_v1`` compute what dolma computes (so a dolma mix config's
thresholds keep their meaning), except for one bug fixed on purpose: blank lines are not lines (dolma counts
every pair of blank lines as duplicated lines and every blank line in the line-fraction denominators, which
its own ``gopher_v2`` half-fixed). Attributes dolma lacks follow the paper. ``docs/taggers.md`` lists both.

Speed: per-word statistics run over distinct words with their counts, in C-level filters; words and lines
are split once for both taggers; n-grams of a whole batch are ranked exactly (no hashing) by
``numpy.unique`` over integer keys built from the previous size's ranks, and only where the n-gram can
repeat at all, so a document costs O(words log words) in C instead of dolma's tuple-building Python loops.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from itertools import chain, compress, filterfalse, repeat
from operator import lt, methodcaller, mul, not_
from typing import Any

from dolma.taggers.text import ALPHANUMERIC, ASCII_LETTER, Analysis, analyse, has_non_symbol, word_lengths

from dolma import Document, Span, Tagger, TaggerParams, tagger

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
"""The paper's "required English words" (dolma: ``REQUIRED_ENGLISH_WORDS``)."""

BULLETS = ("*", "-")
"""Line prefixes counted as bullet points (dolma's ``BULLET_POINTS``)."""

SYMBOLS = ("#", "\u2026")
"""A word containing one of these counts in the symbol-to-word ratio (dolma's ``SYMBOLS``: hash, ellipsis)."""
_SYMBOL = re.compile("|".join(map(re.escape, SYMBOLS)))

TOP_NGRAM_SIZES = (2, 3, 4)
DUPLICATE_NGRAM_SIZES = (5, 6, 7, 8, 9, 10)
MAX_NGRAM = 10
_DOCUMENT_MIX = 0x9E3779B97F4A7C15
"""An odd 64-bit constant: a word's key is its hash plus its document's index times this (mod 2**64)."""
NGRAM_ATTRIBUTES = [f"fraction_of_characters_in_most_common_{n}grams" for n in TOP_NGRAM_SIZES] + [
    f"fraction_of_characters_in_duplicate_{n}grams" for n in DUPLICATE_NGRAM_SIZES
]

PUBLISHED_THRESHOLDS: dict[str, str] = {
    "non_symbol_word_count": ">= 50 and <= 100000",
    "mean_word_length": ">= 3 and <= 10",
    "symbol_to_word_ratio": "<= 0.1",
    "fraction_of_lines_starting_with_bullet_point": "<= 0.9",
    "fraction_of_lines_ending_with_ellipsis": "<= 0.3",
    "fraction_of_words_with_alpha_character": ">= 0.8",
    "distinct_stop_word_count": ">= 2",
    "fraction_of_duplicate_lines": "<= 0.3",
    "fraction_of_duplicate_paragraphs": "<= 0.3",
    "fraction_of_characters_in_duplicate_lines": "<= 0.2",
    "fraction_of_characters_in_duplicate_paragraphs": "<= 0.2",
    "fraction_of_characters_in_most_common_2grams": "<= 0.20",
    "fraction_of_characters_in_most_common_3grams": "<= 0.18",
    "fraction_of_characters_in_most_common_4grams": "<= 0.16",
    "fraction_of_characters_in_duplicate_5grams": "<= 0.15",
    "fraction_of_characters_in_duplicate_6grams": "<= 0.14",
    "fraction_of_characters_in_duplicate_7grams": "<= 0.13",
    "fraction_of_characters_in_duplicate_8grams": "<= 0.12",
    "fraction_of_characters_in_duplicate_9grams": "<= 0.11",
    "fraction_of_characters_in_duplicate_10grams": "<= 0.10",
}
"""What a document must satisfy to be kept under the paper's rules (datatrove and dolma use the same values).
Taggers only score: copy these into the mixer's filters (``docs/taggers.md`` shows how)."""


def _doc(text: str, values: dict[str, float]) -> dict[str, list[Span]]:
    """Each value, as a float rounded to the 5 decimals attribute files keep, as a document span:
    ``{name: [(0, len(text), value)]}`` (counts are exact: converting them costs less than rounding)."""
    size = len(text)
    return {name: [(0, size, float(v) if type(v) is int else round(v, 5))] for name, v in values.items()}


def _median(counts: Counter[int], total: int) -> float:
    """The median of ``total`` values given as value counts (``statistics.median``'s result)."""
    if not total:
        return 0.0
    low_rank, high_rank = (total - 1) // 2, total // 2
    low = high = seen = 0
    for value in sorted(counts):
        if seen <= low_rank:
            low = value
        if seen <= high_rank:
            high = value
        seen += counts[value]
        if seen > high_rank:
            break
    return (low + high) / 2


_MEDIAN_BUCKETS = 64
"""Word lengths up to 62 get their own histogram bucket; a median in the last bucket (63 and more) is
recomputed exactly from the document's words."""


def batch_median_lengths(texts_words: list[list[str]]) -> list[float]:
    """The median word length of each document of a batch (``statistics.median``'s result, 0.0 without
    words), from one histogram of the batch's word lengths instead of a ``Counter`` per document."""
    import numpy as np

    sizes = list(map(len, texts_words))
    n_docs, total = len(sizes), sum(sizes)
    if not total:
        return [0.0] * n_docs
    top = _MEDIAN_BUCKETS - 1
    lengths = word_lengths(texts_words)
    doc = np.repeat(np.arange(n_docs, dtype=np.int64), sizes)
    histogram = np.bincount(doc * _MEDIAN_BUCKETS + np.minimum(lengths, top), minlength=n_docs * _MEDIAN_BUCKETS)
    below = histogram.reshape(n_docs, _MEDIAN_BUCKETS).cumsum(axis=1)  # words of at most each length
    counts = np.array(sizes, dtype=np.int64)
    low = (below <= ((counts - 1) // 2)[:, None]).sum(axis=1).tolist()  # the first length past the rank
    high = (below <= (counts // 2)[:, None]).sum(axis=1).tolist()
    medians = []
    for words, size, lo, hi in zip(texts_words, sizes, low, high, strict=True):
        if not size:
            medians.append(0.0)
        elif hi >= top:
            medians.append(_median(Counter(map(len, words)), size))
        else:
            medians.append((lo + hi) / 2)
    return medians


@tagger("gopher")
class GopherQuality(Tagger):
    """Gopher quality statistics: words, word length, symbols, bullets, ellipses, alphabetic and stop words.

    Attributes (one document-level span each): ``character_count``, ``word_count`` (whitespace words),
    ``non_symbol_word_count`` (words with a character that is not punctuation or a symbol),
    ``median_word_length``, ``mean_word_length`` (of non-symbol words), ``symbol_to_word_ratio`` (words
    containing ``#`` or ``…``), ``fraction_of_words_with_alpha_character``, ``required_word_count``
    (occurrences of stop words), ``distinct_stop_word_count`` (how many of the stop words occur),
    ``fraction_of_lines_starting_with_bullet_point`` and ``fraction_of_lines_ending_with_ellipsis`` (of
    non-blank lines).

    Published thresholds (keep a document when): non_symbol_word_count 50..100,000; mean_word_length 3..10;
    symbol_to_word_ratio <= 0.1; bullet lines <= 0.9; ellipsis lines <= 0.3; alpha words >= 0.8;
    distinct_stop_word_count >= 2. See ``PUBLISHED_THRESHOLDS``.
    """

    attributes = (
        "character_count",
        "word_count",
        "non_symbol_word_count",
        "median_word_length",
        "mean_word_length",
        "symbol_to_word_ratio",
        "fraction_of_words_with_alpha_character",
        "required_word_count",
        "distinct_stop_word_count",
        "fraction_of_lines_starting_with_bullet_point",
        "fraction_of_lines_ending_with_ellipsis",
    )

    exact_scores = True

    class Params(TaggerParams):
        stop_words: tuple[str, ...] = STOP_WORDS
        """Words counted by required_word_count and distinct_stop_word_count (the paper's eight by default)."""

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        self.stop_words = frozenset(params.stop_words)

    def predict(self, doc: Document) -> dict[str, list[Span]]:
        return self.predict_batch([doc])[0]

    def predict_batch(self, docs: Sequence[Document]) -> list[dict[str, list[Span]]]:
        analyses = [analyse(doc.text) for doc in docs]
        medians = batch_median_lengths([a.words for a in analyses])
        return list(map(self.statistics, analyses, medians))

    def statistics(self, analysis: Analysis, median: float) -> dict[str, list[Span]]:
        """Every statistic but the median word length (computed for the whole batch) of one text."""
        text = analysis.text
        if not text:
            return _doc(text, {"character_count": 0, **dict.fromkeys(_QUALITY_ZERO, 0.0)})
        words, counts = analysis.words, analysis.word_counts
        word_count = len(words)
        # every statistic is a count over distinct words, taken with C-level filters: letters-only words are
        # most words; words with a letter or digit are never symbol words; ASCII words find letters by regex
        get = counts.__getitem__
        alpha = list(map(str.isalpha, counts))
        plain = list(compress(counts, alpha))
        mixed = list(compress(counts, map(not_, alpha)))
        found = list(map(ALPHANUMERIC.search, mixed))
        alphanumeric = list(compress(mixed, found))
        symbol_only = list(filterfalse(has_non_symbol, compress(mixed, map(not_, found))))
        non_symbol = word_count - sum(map(get, symbol_only))
        non_symbol_chars = analysis.word_characters - sum(map(mul, map(len, symbol_only), map(get, symbol_only)))
        letters = sum(map(get, plain)) + sum(map(get, filter(ASCII_LETTER.search, filter(str.isascii, alphanumeric))))
        letters += sum(get(w) for w in filterfalse(str.isascii, alphanumeric) if any(map(str.isalpha, w)))
        symbol_words = 0
        if any(symbol in text for symbol in SYMBOLS):  # letters-only words hold no symbol
            symbol_words = sum(map(get, filter(_SYMBOL.search, mixed)))
        stops = [w for w in self.stop_words if w in counts]
        lines = analysis.nonblank_lines
        line_count = sum(lines.values())
        bullets = sum(compress(lines.values(), map(methodcaller("startswith", BULLETS), lines)))
        ellipses = sum(compress(lines.values(), map(methodcaller("endswith", "\u2026"), lines)))
        per_word = max(word_count, 1)
        per_line = max(line_count, 1)
        return _doc(
            text,
            {
                "character_count": len(text),
                "word_count": word_count,
                "non_symbol_word_count": non_symbol,
                "median_word_length": median,
                "mean_word_length": non_symbol_chars / non_symbol if non_symbol else 0.0,
                "symbol_to_word_ratio": symbol_words / per_word,
                "fraction_of_words_with_alpha_character": letters / per_word,
                "required_word_count": sum(counts[w] for w in stops),
                "distinct_stop_word_count": len(stops),
                "fraction_of_lines_starting_with_bullet_point": bullets / per_line,
                "fraction_of_lines_ending_with_ellipsis": ellipses / per_line,
            },
        )


_QUALITY_ZERO = (
    "word_count",
    "non_symbol_word_count",
    "median_word_length",
    "mean_word_length",
    "symbol_to_word_ratio",
    "fraction_of_words_with_alpha_character",
    "required_word_count",
    "distinct_stop_word_count",
    "fraction_of_lines_starting_with_bullet_point",
    "fraction_of_lines_ending_with_ellipsis",
)


def _duplicates(counts: Counter[str]) -> tuple[int, int, int, int]:
    """``(items, items in repeated groups, characters, characters in repeated groups)``; every occurrence of
    a repeated item counts, the first one included (dolma's convention)."""
    items = sum(counts.values())
    if items == len(counts):  # nothing repeats (most texts): no per-item sizes needed
        return items, 0, sum(map(len, counts)), 0
    repeated = list(map(lt, repeat(1), counts.values()))
    sizes = list(map(mul, map(len, counts), counts.values()))
    return items, sum(compress(counts.values(), repeated)), sum(sizes), sum(compress(sizes, repeated))


_PARAGRAPH_BREAK = re.compile(r"\n(?:[^\S\n]*\n)+")


def _paragraphs(text: str) -> Counter[str]:
    """Counts of paragraphs: the text between blank lines, stripped of surrounding whitespace."""
    counts = Counter(map(str.strip, _PARAGRAPH_BREAK.split(text)))
    counts.pop("", None)
    return counts


def _ranks(keys: Any) -> tuple[Any, Any]:
    """``numpy.unique(keys, return_inverse=True, return_counts=True)`` without the unique values, a quarter
    faster: the rank of each key among the distinct keys, and how often each distinct key occurs."""
    import numpy as np

    order = keys.argsort()
    ordered = keys[order]
    new = np.empty(len(keys), dtype=bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    rank = np.cumsum(new)
    rank -= 1
    inverse = np.empty(len(keys), dtype=np.int64)
    inverse[order] = rank
    return inverse, np.diff(np.flatnonzero(np.append(new, True)))


def ngram_fractions(words: list[str]) -> dict[str, float]:
    """dolma's n-gram statistics of one document (see :func:`batch_ngram_fractions`)."""
    return batch_ngram_fractions([words])[0]


def batch_ngram_fractions(
    texts_words: list[list[str]], distinct_words: Sequence[int] | None = None
) -> list[dict[str, float]]:
    """dolma's n-gram statistics for a batch of documents (the words of each), computed exactly.

    ``fraction_of_characters_in_most_common_{n}grams`` (n = 2, 3, 4): occurrences of the most frequent n-gram
    times its characters (word characters, no spaces), over the characters of all words; ties go to the
    n-gram seen first, as ``Counter.most_common`` does. ``fraction_of_characters_in_duplicate_{n}grams``
    (n = 5..10): characters of n-gram occurrences whose n-gram occurs more than once, over the characters
    of all n-gram occurrences. A size with no n-gram (fewer words than n) has no value, as in dolma.

    The whole batch is ranked at once, so numpy's per-call cost is paid once per batch, not per document:
    n-grams get exact integer ranks from ``numpy.unique`` over keys built from the previous size's ranks, a
    word being ranked with its document so that nothing matches across documents; and only positions where
    an n-gram can repeat at all (its (n-1)-gram prefix and suffix both repeat) are ranked. Words are ranked
    by their string hash (cached in the string, so free), mixed with the document; the ranking is exact
    because the number of ranks is checked against ``distinct_words`` (each document's count of distinct
    words, counted here when not given), and a collision makes it rank by a vocabulary instead.
    """
    import numpy as np

    n_docs = len(texts_words)
    out: list[dict[str, float]] = [{} for _ in range(n_docs)]
    lengths = np.fromiter(map(len, texts_words), dtype=np.int64, count=n_docs)
    total = int(lengths.sum())
    if total == 0:
        return out
    starts = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    doc = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
    remaining = starts[1:][doc] - np.arange(total, dtype=np.int64)  # words from each position to its doc's end
    cum = np.zeros(total + 1, dtype=np.int64)
    np.cumsum(word_lengths(texts_words), out=cum[1:])
    cumcum = np.zeros(total + 2, dtype=np.int64)
    np.cumsum(cum, out=cumcum[1:])
    word_chars = [max(c, 1) for c in (cum[starts[1:]] - cum[starts[:-1]]).tolist()]
    # level 1: a word is (document, word), so n-grams never match across documents
    hashes = np.fromiter(map(hash, chain.from_iterable(texts_words)), dtype=np.int64, count=total).view(np.uint64)
    word_rank, word_counts = _ranks(hashes + doc.view(np.uint64) * _DOCUMENT_MIX)
    if distinct_words is None:
        distinct_words = [len(set(words)) for words in texts_words]
    if len(word_counts) != sum(distinct_words):  # two (document, word) pairs share a key: rank words exactly
        words = list(chain.from_iterable(texts_words))
        vocabulary = dict.fromkeys(words)
        index = dict(zip(vocabulary, range(len(vocabulary)), strict=True))
        ids = np.fromiter(map(index.__getitem__, words), dtype=np.int64, count=total)
        word_rank, word_counts = _ranks(doc * len(index) + ids)
    n_word_ranks = len(word_counts)
    ranks = word_rank
    repeated = np.append(word_counts[word_rank] > 1, False)  # repeated[i]: the (n-1)-gram at i occurs twice+
    doc_starts = starts[:-1]
    for n in range(2, MAX_NGRAM + 1):
        docs_n = np.flatnonzero(lengths >= n).tolist()
        if not docs_n:
            break
        positions = np.flatnonzero(repeated[:-1] & repeated[1:] & (remaining >= n))
        top = np.ones(n_docs, dtype=np.int64)
        first = doc_starts.copy()
        repeated = np.zeros(total + 1, dtype=bool)
        if len(positions):
            keys = ranks[positions] * n_word_ranks + word_rank[positions + n - 1]  # < words², fits in int64
            inverse, counts = _ranks(keys)
            per_position = counts[inverse]
            repeated[positions[per_position > 1]] = True
            ranks = np.zeros(total, dtype=np.int64)
            ranks[positions] = inverse
            if n in TOP_NGRAM_SIZES:
                owner = doc[positions]
                segments = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
                top[owner[segments]] = np.maximum.reduceat(per_position, segments)
                hits = positions[(per_position == top[owner]) & (per_position > 1)]
                hit_docs, first_hit = np.unique(doc[hits], return_index=True)
                first[hit_docs] = hits[first_hit]
        if n in TOP_NGRAM_SIZES:
            name = f"fraction_of_characters_in_most_common_{n}grams"
            values = (top * (cum[np.minimum(first + n, total)] - cum[first])).tolist()  # short docs: unused
            for d in docs_n:
                out[d][name] = values[d] / word_chars[d]
        else:
            name = f"fraction_of_characters_in_duplicate_{n}grams"
            where = np.flatnonzero(repeated[:-1])
            duplicated = np.bincount(doc[where], weights=cum[where + n] - cum[where], minlength=n_docs)
            duplicated = duplicated.astype(np.int64).tolist()
            last = np.maximum(starts[1:] - n + 1, doc_starts)  # one past the last n-gram start of each doc
            shifted = np.minimum(doc_starts + n, total + 1)  # short documents: any in-range index, unused
            sums = (cumcum[np.minimum(last + n, total + 1)] - cumcum[shifted]) - (cumcum[last] - cumcum[doc_starts])
            sums = sums.tolist()
            for d in docs_n:
                out[d][name] = duplicated[d] / max(sums[d], 1)
    return out


@tagger("gopher_repetition")
class GopherRepetition(Tagger):
    """Gopher repetition statistics: duplicate lines and paragraphs, top n-gram and duplicate n-gram fractions.

    Attributes (one document-level span each): ``fraction_of_duplicate_lines``,
    ``fraction_of_characters_in_duplicate_lines`` (over word characters, as dolma; blank lines never count),
    ``fraction_of_duplicate_paragraphs``, ``fraction_of_characters_in_duplicate_paragraphs`` (over paragraph
    characters; paragraphs are separated by blank lines), ``fraction_of_characters_in_most_common_{2,3,4}grams``
    and ``fraction_of_characters_in_duplicate_{5..10}grams`` (an empty list when the document has fewer words).

    Published thresholds (keep a document when): duplicate lines and paragraphs <= 0.3 by count and <= 0.2 by
    characters; top 2/3/4-grams <= 0.20/0.18/0.16; duplicate 5..10-grams <= 0.15, 0.14, 0.13, 0.12, 0.11,
    0.10. See ``PUBLISHED_THRESHOLDS``.
    """

    attributes = (
        "fraction_of_duplicate_lines",
        "fraction_of_characters_in_duplicate_lines",
        "fraction_of_duplicate_paragraphs",
        "fraction_of_characters_in_duplicate_paragraphs",
        *NGRAM_ATTRIBUTES,
    )

    exact_scores = True

    def predict(self, doc: Document) -> dict[str, list[Span]]:
        return self.predict_batch([doc])[0]

    def predict_batch(self, docs: Sequence[Document]) -> list[dict[str, list[Span]]]:
        analyses = [analyse(doc.text) for doc in docs]
        results = []
        ngrams = batch_ngram_fractions([a.words for a in analyses], [len(a.word_counts) for a in analyses])
        for analysis, values in zip(analyses, ngrams, strict=True):
            text = analysis.text
            word_chars = max(analysis.word_characters, 1)
            lines, dup_lines, _, dup_line_chars = _duplicates(analysis.nonblank_lines)
            paragraphs, dup_paragraphs, paragraph_chars, dup_paragraph_chars = _duplicates(_paragraphs(text))
            values["fraction_of_duplicate_lines"] = dup_lines / max(lines, 1)
            values["fraction_of_characters_in_duplicate_lines"] = dup_line_chars / word_chars
            values["fraction_of_duplicate_paragraphs"] = dup_paragraphs / max(paragraphs, 1)
            values["fraction_of_characters_in_duplicate_paragraphs"] = dup_paragraph_chars / max(paragraph_chars, 1)
            out = _doc(text, values)
            for name in NGRAM_ATTRIBUTES:
                out.setdefault(name, [])  # fewer words than n: no value, but the key is on every row
            results.append(out)
        return results
