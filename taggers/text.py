"""Text helpers shared by the rule-based quality taggers: a per-document analysis (words, word counts,
non-blank lines) computed once for all of them, blank-line and symbol-word tests. Everything here runs in
time linear in the text (no regex that can backtrack over a long run of the same character class)."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from itertools import chain
from operator import is_not, mul
from typing import Any


def is_blank(line: str) -> bool:
    """True for an empty or whitespace-only line."""
    return not line or line.isspace()


class Analysis:
    """Whitespace words, their counts and the counts of non-blank lines of one text, computed once and shared
    by the taggers that read them (``gopher`` and ``gopher_repetition`` run over the same batch)."""

    __slots__ = ("text", "words", "word_counts", "_characters", "_lines", "_line_counts")

    def __init__(self, text: str) -> None:
        self.text = text
        self.words = text.split()
        self.word_counts = Counter(self.words)
        self._characters: int | None = None
        self._lines: list[str] | None = None
        self._line_counts: Counter[str] | None = None

    @property
    def word_characters(self) -> int:
        """Characters of all words (spaces excluded), summed over distinct words times their counts."""
        if self._characters is None:
            counts = self.word_counts
            self._characters = sum(map(mul, map(len, counts), counts.values()))
        return self._characters

    @property
    def lines(self) -> list[str]:
        """The text split on newlines (blank lines included; ``c4`` spans every line)."""
        if self._lines is None:
            self._lines = self.text.split("\n")
        return self._lines

    @property
    def nonblank_lines(self) -> Counter[str]:
        """Counts of the distinct non-blank lines (split on newlines)."""
        if self._line_counts is None:
            counts = Counter(self.lines)
            counts.pop("", None)
            for blank in list(filter(str.isspace, counts)):  # few: delete them rather than copy the rest
                del counts[blank]
            self._line_counts = counts
        return self._line_counts


class _Recent:
    """The analyses of the last few batches' texts, keyed by the identity of the text string (held here, so
    its ``id`` cannot be reused by another object while the entry lives)."""

    max_documents = 1024  # a few batches: every tagger of a batch runs before the next batch is read
    max_characters = 16_000_000  # and a bound on memory: the word lists weigh several times their text

    def __init__(self) -> None:
        self.entries: dict[int, Analysis] = {}
        self.characters = 0

    def peek(self, text: str) -> Analysis | None:
        found = self.entries.get(id(text))
        return found if found is not None and found.text is text else None

    def get(self, text: str) -> Analysis:
        found = self.peek(text)
        if found is not None:
            return found
        if len(self.entries) >= self.max_documents or self.characters > self.max_characters:
            self.entries.clear()  # a later tagger then recomputes what it needs: time, never correctness
            self.characters = 0
        found = self.entries[id(text)] = Analysis(text)
        self.characters += len(text)
        return found


_recent = _Recent()


def analyse(text: str) -> Analysis:
    """The :class:`Analysis` of ``text``, shared by every tagger that asks for it while the text is recent."""
    return _recent.get(text)


def analysed(text: str) -> Analysis | None:
    """The :class:`Analysis` of ``text`` if another tagger has made it, else None (for a tagger that can do
    without, more cheaply than analysing the text itself)."""
    return _recent.peek(text)


class _LastBatch:
    """The word lengths of the last batch, kept with its word lists (so their ids stay theirs) for the next
    tagger of the same batch."""

    words: list[list[str]] = []
    lengths: Any = None


def word_lengths(texts_words: list[list[str]]) -> Any:
    """The lengths of the words of a batch of documents, one after another, as a numpy int64 array: the
    batch's ``gopher`` and ``gopher_repetition`` share it."""
    import numpy as np

    last = _LastBatch
    if len(last.words) != len(texts_words) or any(map(is_not, last.words, texts_words)):
        total = sum(map(len, texts_words))
        last.lengths = np.fromiter(map(len, chain.from_iterable(texts_words)), dtype=np.int64, count=total)
        last.words = list(texts_words)
    return last.lengths


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
