"""FineWeb's quality rules (Penedo et al. 2024, datatrove's ``FineWebQualityFilter``) as document scores.

FineWeb drops a document when few of its lines end in punctuation, when most of its lines are short, when
it repeats lines, or when it is more newlines than words (lists, menus, tables). This tagger scores the four
ratios; the mixer applies the thresholds.
"""

from __future__ import annotations

from collections import Counter

from dolma.taggers.text import is_blank

from dolma import Document, Span, Tagger, TaggerParams, tagger

TERMINAL_PUNCTUATION = ".!?。！？｡．؟۔।॥።‼‽⁇⁈⁉"
"""Sentence terminals of the major scripts (a subset of datatrove's 159-character Unicode set)."""

PUBLISHED_THRESHOLDS: dict[str, str] = {
    "line_punct_ratio": ">= 0.12",
    "short_line_ratio": "<= 0.67",
    "char_duplicates_ratio": "<= 0.01",
    "new_line_ratio": "<= 0.3",
}
"""What FineWeb keeps (datatrove's defaults). Taggers only score: copy these into the mixer's filters."""


@tagger("fineweb_quality")
class FineWebQuality(Tagger):
    """FineWeb quality ratios: punctuated lines, short lines, duplicated-line characters, newlines per word.

    Attributes (one document-level span each; lines are the non-blank ``\\n``-separated lines):
    ``line_punct_ratio`` (lines whose last character is a sentence terminal), ``short_line_ratio`` (lines of
    at most ``short_line_length`` characters), ``char_duplicates_ratio`` (characters of line occurrences after
    the first of each repeated line, over the characters of the text less its newlines), ``new_line_ratio``
    (newlines per whitespace word). A text with no non-blank line scores 0 on the three line ratios.

    Published thresholds (keep a document when): line_punct_ratio >= 0.12, short_line_ratio <= 0.67,
    char_duplicates_ratio <= 0.01, new_line_ratio <= 0.3.
    """

    attributes = tuple(PUBLISHED_THRESHOLDS)

    class Params(TaggerParams):
        short_line_length: int = 30
        """A line of at most this many characters counts as short."""
        terminal_punctuation: str = TERMINAL_PUNCTUATION
        """Characters that end a punctuated line (each character is one terminal)."""

    def predict(self, doc: Document) -> dict[str, list[Span]]:
        text = doc.text
        terminals = tuple(self.params.terminal_punctuation)
        short = self.params.short_line_length
        lines = punctuated = short_lines = repeated_chars = 0
        for line, n in Counter(text.split("\n")).items():
            if is_blank(line):
                continue
            lines += n
            if line.endswith(terminals):
                punctuated += n
            if len(line) <= short:
                short_lines += n
            repeated_chars += len(line) * (n - 1)
        newlines = text.count("\n")
        per_line = max(lines, 1)
        values = {
            "line_punct_ratio": punctuated / per_line,
            "short_line_ratio": short_lines / per_line,
            "char_duplicates_ratio": repeated_chars / max(len(text) - newlines, 1),
            "new_line_ratio": newlines / max(len(text.split()), 1),
        }
        end = len(text)
        return {name: [(0, end, value)] for name, value in values.items()}
