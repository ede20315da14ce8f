"""Text helpers shared by the rule-based quality taggers: line splitting with offsets, blank-line tests and
the punctuation/symbol character class. Everything here runs in time linear in the text (no regex that can
backtrack over a long run of the same character class)."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator

_LAST_SYMBOL_PLANE_END = 0x20000


def is_blank(line: str) -> bool:
    """True for an empty or whitespace-only line."""
    return not line or line.isspace()


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


_ALPHANUMERIC = re.compile(r"[^\W_]")


def has_non_symbol(word: str) -> bool:
    """True when ``word`` has a character that is neither punctuation nor a symbol (Gopher's non-symbol word).

    A letter or digit settles it with a cheap scan; only words without one (dashes, emoji, "...") go through
    the full Unicode class."""
    return _ALPHANUMERIC.search(word) is not None or symbol_class().search(word) is not None


@functools.cache
def symbol_class() -> re.Pattern[str]:
    """A regex matching any character that is *not* punctuation or a symbol (Unicode categories P* and S*).

    ``word`` is a "symbol word" (Gopher's non-symbol word count excludes it) when ``search(word)`` is None.
    Built on first use (about 0.1 s), never at import. No code point above U+1FFFF is punctuation or a symbol
    (planes 2+ hold ideographs, tags and private use), so the scan stops there."""
    ranges: list[str] = []
    start = None
    for code in range(_LAST_SYMBOL_PLANE_END + 1):
        inside = code < _LAST_SYMBOL_PLANE_END and unicodedata.category(chr(code))[0] in "PS"
        if inside and start is None:
            start = code
        elif not inside and start is not None:
            ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(code - 1))}")
            start = None
    return re.compile("[^" + "".join(ranges) + "]")
