"""Span replacement: rewrite the parts of a document's text that an attribute marks, e.g. remove duplicate
paragraphs (``replacement: ""``) or mask PII (``replacement: "|||EMAIL|||"``; ``{}`` stands for the
original text of the span).

Offsets are Unicode code points (Python ``str`` indices). A span is replaced when
``min_score <= score < max_score`` (either bound optional; dolma 1.2.1 treats ``max_score`` as exclusive
too). Overlapping spans are merged into one replaced region, taking the replacement of the span that
starts first, so no marked character survives; dolma 1.2.1 instead drops a span that overlaps an earlier
one, leaving its non-overlapping tail in the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dolma.mixers.filters import Path, compile_jq_path, compile_path

Replacement = tuple[int, int, str]
"""``(start, end, replacement)`` in code points."""


class SpanError(ValueError):
    """An attribute value that is not a list of ``[start, end, score]`` spans."""


@dataclass
class SpanRule:
    """One ``span_replacement`` entry, compiled."""

    path: Path
    min_score: float | None
    max_score: float | None
    replacement: str

    @classmethod
    def compile(
        cls, span: str, min_score: float | None, max_score: float | None, replacement: str, syntax: str = "jsonpath"
    ) -> SpanRule:
        """``syntax`` is ``jsonpath`` or ``jq`` (a jq program yielding the span list, as in dolma)."""
        path = compile_jq_path(span) if syntax == "jq" else compile_path(span)
        return cls(path, min_score, max_score, replacement)

    def find(self, doc: dict[str, Any]) -> list[Replacement]:
        """The spans of ``doc`` selected by the path whose score is within the bounds."""
        out: list[Replacement] = []
        low, high = self.min_score, self.max_score
        for node in self.path.select(doc):
            if node is None:
                continue
            if type(node) is not list:
                raise SpanError(f"expected a list of [start, end, score] spans, found {type(node).__name__}")
            for span in node:
                if type(span) is not list or len(span) < 3:
                    raise SpanError(f"expected a [start, end, score] span, found {span!r}")
                start, end, score = span[0], span[1], span[2]
                if (low is None or score >= low) and (high is None or score < high):
                    out.append((int(start), int(end), self.replacement))
        return out


def merge_overlapping(replacements: list[Replacement]) -> list[Replacement]:
    """Sort by start and merge spans that overlap (touching spans stay separate)."""
    ordered = sorted(replacements, key=lambda r: (r[0], -r[1]))
    merged: list[Replacement] = []
    for start, end, text in ordered:
        if end <= start:
            continue
        if merged and start < merged[-1][1]:
            last = merged[-1]
            if end > last[1]:
                merged[-1] = (last[0], end, last[2])
            continue
        merged.append((start, end, text))
    return merged


def apply_replacements(text: str, replacements: list[Replacement]) -> str:
    """Replace each (merged) span of ``text``; ``{}`` in a replacement is the span's original text."""
    if not replacements:
        return text
    size = len(text)
    pieces = []
    position = 0
    for start, end, replacement in merge_overlapping(replacements):
        start, end = max(start, position), min(end, size)
        if start >= end:
            continue
        pieces.append(text[position:start])
        pieces.append(replacement.replace("{}", text[start:end]) if "{}" in replacement else replacement)
        position = end
    pieces.append(text[position:])
    return "".join(pieces)
