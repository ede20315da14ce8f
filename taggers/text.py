"""Text helpers shared by the rule-based quality taggers: line splitting with offsets, blank-line tests and
the punctuation/symbol character class. Everything here runs in time linear in the text (no regex that can
backtrack over a long run of the same character class)."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterator


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
ASCII_LETTER = re.compile(r"[A-Za-z]")


def has_non_symbol(word: str) -> bool:
    """True when ``word`` has a character that is neither punctuation nor a symbol (Unicode categories P*
    and S*): Gopher's non-symbol word. A letter or digit settles it in C; only words without one (dashes,
    emoji, "...") are looked at character by character."""
    if ALPHANUMERIC.search(word) is not None:
        return True
    return any(unicodedata.category(c)[0] not in "PS" for c in word)
