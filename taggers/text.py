"""Text helpers shared by the rule-based quality taggers: line splitting with offsets, blank-line tests and
the punctuation/symbol character class. Everything here runs in time linear in the text (no regex that can
backtrack over a long run of the same character class)."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator

_LAST_SYMBOL_PLANE_END = 0x20000


def is_blank(line: str) -> bool:
    """True for an empty or whitespace-only line."""
    return not line or line.isspace()


class Analysis:
    """Whitespace words, their counts and the counts of non-blank lines of one text, computed once and shared
    by the taggers that read them (``gopher`` and ``gopher_repetition`` run over the same batch)."""

    __slots__ = ("text", "words", "word_counts", "_lines")

    def __init__(self, text: str) -> None:
        self.text = text
        self.words = text.split()
        self.word_counts = Counter(self.words)
        self._lines: Counter[str] | None = None

    @property
    def nonblank_lines(self) -> Counter[str]:
        """Counts of the distinct non-blank ``\n``-separated lines."""
        if self._lines is None:
            counts = Counter(self.text.split("\n"))
            self._lines = Counter({line: n for line, n in counts.items() if line and not line.isspace()})
        return self._lines


_RECENT: dict[int, Analysis] = {}
_RECENT_SIZE = 1024  # a few batches: every tagger of a batch runs before the next batch is read


def analyse(text: str) -> Analysis:
    """The :class:`Analysis` of ``text``, reused while the same string object is recent. The cache holds the
    string, so its ``id`` cannot be reused by another object while the entry lives."""
    found = _RECENT.get(id(text))
    if found is not None and found.text is text:
        return found
    if len(_RECENT) >= _RECENT_SIZE:
        _RECENT.clear()
    found = _RECENT[id(text)] = Analysis(text)
    return found


def line_spans(text: str) -> Iterator[tuple[int, int, str]]:
    """``(start, end, line)`` for each ``\\n``-separated line; ``end`` includes the newline except on the last
    line, so the spans tile the text the way dolma's line taggers do (a text ending in a newline has a final
    empty line ``(len, len, "")``)."""
    start = 0
    lines = text.split("\n")
    last = len(lines) - 1
    for i, line in enumerate(lines):
        end = start + len(line) + (i < last)
        yield start, end, line
        start = end


ALPHANUMERIC = re.compile(r"[^\W_]")
"""Matches a letter or digit (any script): a word with one is never a symbol word."""


def has_non_symbol(word: str) -> bool:
    """True when ``word`` has a character that is neither punctuation nor a symbol (Gopher's non-symbol word).

    A letter or digit settles it with a cheap scan; only words without one (dashes, emoji, "...") go through
    the full Unicode class."""
    return ALPHANUMERIC.search(word) is not None or symbol_class().search(word) is not None


@functools.cache
def _category_ranges() -> dict[str, str]:
    """Regex character-class ranges of the punctuation and symbol characters (``"PS"``) and of the numeric
    characters that are not decimal digits (``"N"``: categories No and Nl, e.g. "²", "½", "Ⅻ"), from one scan
    of the code points. Built on first use (about 0.2 s), never at import. No code point above U+1FFFF is
    in these categories (planes 2+ hold ideographs, tags and private use), so the scan stops there."""
    ranges: dict[str, list[str]] = {"PS": [], "N": []}
    starts: dict[str, int | None] = {"PS": None, "N": None}
    for code in range(_LAST_SYMBOL_PLANE_END + 1):
        category = unicodedata.category(chr(code)) if code < _LAST_SYMBOL_PLANE_END else ""
        group = "PS" if category[:1] in ("P", "S") else "N" if category in ("No", "Nl") else None
        for name, start in starts.items():
            if group == name and start is None:
                starts[name] = code
            elif group != name and start is not None:
                ranges[name].append(f"{re.escape(chr(start))}-{re.escape(chr(code - 1))}")
                starts[name] = None
    return {name: "".join(parts) for name, parts in ranges.items()}


@functools.cache
def symbol_class() -> re.Pattern[str]:
    """A regex matching any character that is *not* punctuation or a symbol (Unicode categories P* and S*):
    ``word`` is a "symbol word" (Gopher's non-symbol word count excludes it) when ``search(word)`` is None."""
    return re.compile("[^" + _category_ranges()["PS"] + "]")


@functools.cache
def letter_class() -> re.Pattern[str]:
    """A regex matching exactly the characters for which ``str.isalpha()`` is true (word characters that are
    neither digits, ``_``, nor other numerics), so ``search`` finds a letter in C."""
    return re.compile("[^\\W\\d_" + _category_ranges()["N"] + "]")
