"""Gopher quality and repetition statistics (Rae et al. 2021, "Scaling Language Models", appendix A).

Two taggers, every statistic its own document-level attribute, so thresholds are chosen in the mixer:

- ``gopher``: word counts and lengths, symbol ratio, bullet and ellipsis lines, alphabetic words, stop words.
- ``gopher_repetition``: duplicate lines and paragraphs, top 2/3/4-gram and duplicate 5..10-gram character
  fractions.

Attributes named as in allenai/dolma's ``gopher_v1`` compute what dolma computes (so a dolma mix config's
thresholds keep their meaning), except for one bug fixed on purpose: blank lines are not lines (dolma counts
every pair of blank lines as duplicated lines and every blank line in the line-fraction denominators, which
its own ``gopher_v2`` half-fixed). Attributes dolma lacks follow the paper. ``docs/taggers.md`` lists both.

Speed: per-word statistics run over distinct words with their counts; n-grams are ranked exactly (no
hashing) by ``numpy.unique`` over integer keys built from the previous size's ranks, and only where the
n-gram can repeat at all (its (n-1)-gram prefix and suffix both repeat), so a document costs
O(words log words) in C instead of dolma's tuple-building Python loops.
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import accumulate, compress, filterfalse, repeat
from operator import add, lt, methodcaller, mul, sub
from typing import Any

from dolma import Document, Span, Tagger, TaggerParams, tagger
from taggers.text import ALPHANUMERIC, ASCII_LETTER, analyse, has_non_symbol

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
"""The paper's "required English words" (dolma: ``REQUIRED_ENGLISH_WORDS``)."""

BULLETS = ("*", "-")
"""Line prefixes counted as bullet points (dolma's ``BULLET_POINTS``)."""

SYMBOLS = ("#", "\u2026")
"""A word containing one of these counts in the symbol-to-word ratio (dolma's ``SYMBOLS``: hash, ellipsis)."""

TOP_NGRAM_SIZES = (2, 3, 4)
DUPLICATE_NGRAM_SIZES = (5, 6, 7, 8, 9, 10)
MAX_NGRAM = 10
NGRAM_ATTRIBUTES = [f"fraction_of_characters_in_most_common_{n}grams" for n in TOP_NGRAM_SIZES] + [
    f"fraction_of_characters_in_duplicate_{n}grams" for n in DUPLICATE_NGRAM_SIZES
]
SMALL_DOCUMENT_WORDS = 150
"""Below this many words the pure-Python n-gram path is faster than numpy (measured on real text)."""

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
    end = len(text)
    return {name: [(0, end, value)] for name, value in values.items()}


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

    class Params(TaggerParams):
        stop_words: tuple[str, ...] = STOP_WORDS
        """Words counted by required_word_count and distinct_stop_word_count (the paper's eight by default)."""

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        self.stop_words = frozenset(params.stop_words)

    def predict(self, doc: Document) -> dict[str, list[Span]]:
        text = doc.text
        if not text:
            return _doc(text, {"character_count": 0, **dict.fromkeys(_QUALITY_ZERO, 0.0)})
        analysis = analyse(text)
        words, counts = analysis.words, analysis.word_counts
        word_count = len(words)
        # every statistic is a count over distinct words, taken with C-level filters: letters-only words are
        # most words; words with a letter or digit are never symbol words; ASCII words find letters by regex
        get = counts.__getitem__
        plain = list(filter(str.isalpha, counts))
        mixed = list(filterfalse(str.isalpha, counts))
        alphanumeric = list(filter(ALPHANUMERIC.search, mixed))
        symbolic = list(filter(has_non_symbol, filterfalse(ALPHANUMERIC.search, mixed)))
        non_symbol_words = (plain, alphanumeric, symbolic)
        non_symbol = sum(sum(map(get, group)) for group in non_symbol_words)
        non_symbol_chars = sum(sum(map(mul, map(len, group), map(get, group))) for group in non_symbol_words)
        letters = sum(map(get, plain)) + sum(map(get, filter(ASCII_LETTER.search, filter(str.isascii, alphanumeric))))
        letters += sum(get(w) for w in filterfalse(str.isascii, alphanumeric) if any(map(str.isalpha, w)))
        symbol_words = 0
        if "#" in text or "\u2026" in text:
            symbol_words = sum(get(w) for w in mixed if "#" in w or "\u2026" in w)
        median = _median(Counter(map(len, words)), word_count)
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
    repeated = list(map(lt, repeat(1), counts.values()))
    sizes = list(map(mul, map(len, counts), counts.values()))
    return (
        sum(counts.values()),
        sum(compress(counts.values(), repeated)),
        sum(sizes),
        sum(compress(sizes, repeated)),
    )


_PARAGRAPH_BREAK = re.compile(r"\n(?:[^\S\n]*\n)+")


def _paragraphs(text: str) -> Counter[str]:
    """Counts of paragraphs: the text between blank lines, stripped of surrounding whitespace."""
    counts = Counter(map(str.strip, _PARAGRAPH_BREAK.split(text)))
    counts.pop("", None)
    return counts


def ngram_fractions(words: list[str], counts: Counter[str] | None = None) -> dict[str, float]:
    """dolma's n-gram statistics (see :func:`_ngram_fractions_numpy`); short documents take the pure-Python
    path, whose constant cost is lower than numpy's per-call overhead. ``counts`` are the word counts, in
    first-occurrence order (a ``Counter`` of ``words``), when the caller has them already."""
    counts = Counter(words) if counts is None else counts
    if len(words) < SMALL_DOCUMENT_WORDS:
        return _ngram_fractions_python(words, counts)
    return _ngram_fractions_numpy(words, counts)


def _ngram_fractions_python(words: list[str], counts: Counter[str]) -> dict[str, float]:
    """The same statistics as :func:`_ngram_fractions_numpy`, keyed by exact integers (word ids in base
    ``vocabulary size``); once every n-gram of a size is distinct, longer ones are too."""
    n_words = len(words)
    out: dict[str, float] = {}
    if n_words < 2:
        return out
    vocab = len(counts)
    ids = list(map({w: i for i, w in enumerate(counts)}.__getitem__, words))
    cum = [0, *accumulate(map(len, words))]
    word_chars = max(cum[-1], 1)
    keys = ids
    all_distinct = False
    for n in range(2, min(n_words, MAX_NGRAM) + 1):
        m = n_words - n + 1
        top, first, duplicated = 1, 0, 0
        if not all_distinct:
            keys = list(map(add, map(mul, keys[:m], repeat(vocab)), ids[n - 1 :]))
            grams = Counter(keys)
            all_distinct = len(grams) == m
            if not all_distinct:
                per_position = list(map(grams.__getitem__, keys))
                if n in TOP_NGRAM_SIZES:
                    top = max(grams.values())
                    first = per_position.index(top)
                else:
                    repeated = map(lt, repeat(1), per_position)
                    duplicated = sum(compress(map(sub, cum[n:], cum[:m]), repeated))
        if n in TOP_NGRAM_SIZES:
            out[f"fraction_of_characters_in_most_common_{n}grams"] = top * (cum[first + n] - cum[first]) / word_chars
        else:
            total = sum(cum[n : n + m]) - sum(cum[:m])
            out[f"fraction_of_characters_in_duplicate_{n}grams"] = duplicated / max(total, 1)
    return out


def _ngram_fractions_numpy(words: list[str], word_counts: Counter[str]) -> dict[str, float]:
    """dolma's n-gram statistics, computed exactly from integer n-gram ranks.

    ``fraction_of_characters_in_most_common_{n}grams`` (n = 2, 3, 4): occurrences of the most frequent n-gram
    times its characters (word characters, no spaces), over the characters of all words; ties go to the
    n-gram seen first, as ``Counter.most_common`` does. ``fraction_of_characters_in_duplicate_{n}grams``
    (n = 5..10): characters of n-gram occurrences whose n-gram occurs more than once, over the characters
    of all n-gram occurrences. A size with no n-gram (fewer words than n) has no value, as in dolma.
    """
    import numpy as np

    n_words = len(words)
    out: dict[str, float] = {}
    if n_words < 2:
        return out
    vocab = len(word_counts)
    index = {w: i for i, w in enumerate(word_counts)}
    ids = np.fromiter(map(index.__getitem__, words), dtype=np.int64, count=n_words)
    cum = np.zeros(n_words + 1, dtype=np.int64)  # cum[i]: characters of the first i words
    np.cumsum(np.fromiter(map(len, words), dtype=np.int64, count=n_words), out=cum[1:])
    cumcum = np.zeros(n_words + 2, dtype=np.int64)  # to sum n-gram lengths over all positions in O(1)
    np.cumsum(cum, out=cumcum[1:])
    word_chars = max(int(cum[-1]), 1)
    ranks = ids  # ranks[i]: rank of the (n-1)-gram at i among repeated (n-1)-grams
    # repeated[i]: the (n-1)-gram at i occurs twice or more
    repeated = np.fromiter(word_counts.values(), dtype=np.int64, count=vocab)[ids] > 1
    for n in range(2, min(n_words, MAX_NGRAM) + 1):
        m = n_words - n + 1
        # an n-gram can repeat only where both its (n-1)-gram prefix and suffix repeat: rank only those
        positions = np.flatnonzero(repeated[:m] & repeated[1 : m + 1])
        if not len(positions):  # nothing repeats at this size, so nothing longer does: finish without numpy
            for k in range(n, min(n_words, MAX_NGRAM) + 1):
                if k in TOP_NGRAM_SIZES:
                    out[f"fraction_of_characters_in_most_common_{k}grams"] = int(cum[k]) / word_chars
                else:
                    out[f"fraction_of_characters_in_duplicate_{k}grams"] = 0.0
            break
        top, first = 1, 0
        keys = ranks[positions] * vocab + ids[positions + n - 1]
        _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        per_position = counts[inverse]
        repeated = np.zeros(m, dtype=bool)
        repeated[positions[per_position > 1]] = True
        ranks = np.zeros(m, dtype=np.int64)
        ranks[positions] = inverse
        if counts.max() > 1:
            top = int(counts.max())
            first = int(positions[np.argmax(per_position == top)])
        if n in TOP_NGRAM_SIZES:
            out[f"fraction_of_characters_in_most_common_{n}grams"] = top * int(cum[first + n] - cum[first]) / word_chars
        else:
            where = np.flatnonzero(repeated)
            duplicated = int((cum[where + n] - cum[where]).sum())
            total = int(cumcum[n + m] - cumcum[n]) - int(cumcum[m])
            out[f"fraction_of_characters_in_duplicate_{n}grams"] = duplicated / max(total, 1)
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

    def predict(self, doc: Document) -> dict[str, list[Span]]:
        text = doc.text
        analysis = analyse(text)
        words = analysis.words
        word_chars = max(sum(map(len, words)), 1)
        lines, dup_lines, _, dup_line_chars = _duplicates(analysis.nonblank_lines)
        paragraphs, dup_paragraphs, paragraph_chars, dup_paragraph_chars = _duplicates(_paragraphs(text))
        values = ngram_fractions(words, analysis.word_counts)
        values["fraction_of_duplicate_lines"] = dup_lines / max(lines, 1)
        values["fraction_of_characters_in_duplicate_lines"] = dup_line_chars / word_chars
        values["fraction_of_duplicate_paragraphs"] = dup_paragraphs / max(paragraphs, 1)
        values["fraction_of_characters_in_duplicate_paragraphs"] = dup_paragraph_chars / max(paragraph_chars, 1)
        out = _doc(text, values)
        for name in NGRAM_ATTRIBUTES:
            out.setdefault(name, [])  # fewer words than n: no value, but the key is on every row
        return out
