"""PII: e-mail addresses, phone numbers and IP addresses as spans ready for masking, with per-document counts.

Detection is two steps. Candidates are found by small bounded patterns (each match is at most a few dozen
characters and e-mail addresses are grown outwards from each ``@``), so a document costs linear time however
it is built; dolma's e-mail and phone patterns start with unbounded runs (``[^\\s@]+@``, ``\\s+``) and go
quadratic on a long token or a long run of spaces. Then each candidate must pass named rules; the rules are
what cuts dolma ``pii_regex_v2``'s false positives on version numbers, dates and numeric tables:

- ``embedded``: part of a longer token: a digit, letter, ``_`` or ``.`` digit next to the match, or for a
  phone number a ``/`` or ``=`` ("1.2.3.4.5", "v1.2.3.4", "20240512345678", "organizations/9454078371/").
- ``numeric_table``: a phone-shaped match with a number just before or after it on the line
  ("12 350 420 1200 77").
- ``not_nanp``: the area code or exchange of a phone number starts with 0 or 1 (no such number exists in
  the North American plan, whose 3-3-4 shape this detects; rejects timestamps and counters).
- ``leading_zero``: an IP octet written with a leading zero ("01.02.2019.10" is a date or version).
- ``version_context``: an IP-shaped match right after "version", "release", "build", "rev" or "v".
- ``identifier_context``: a phone or IP with "isbn", "doi" or "#" within 100 characters (dolma's rule,
  made case-insensitive).
- ``email_shape``: the domain has no dot-separated alphabetic top-level domain.

A span covers the address or number only (dolma's also covers the spaces and punctuation around it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from dolma import Document, Span, Tagger, tagger
from taggers.text import analysed

EMAIL, PHONE, IP = "email", "phone", "ip"
CONTEXT_WINDOW = 100

_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-'")
_MAX_LOCAL = 64
_DOMAIN = re.compile(r"[A-Za-z0-9.-]{1,253}")
_TLD = re.compile(r"[A-Za-z]{2,24}")
_NUMERIC_RUN = re.compile(r"[+(\d][\d(). +-]{6,}")
"""Every phone or IP match lies inside one such run (their characters all belong to the class) and is at least
7 characters long; scanning for runs first is what keeps number-free text cheap (a leading character class
lets the regex engine skip ahead in C)."""
_PHONE = re.compile(r"(?:\+?1[-. ]?)?\(?\d{3}\)?[-. ]{0,3}\d{3}[-. ]?\d{4}")
_OCTET = r"(?:25[0-5]|2[0-4]\d|[01]?\d\d?)"
_IP = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
_CONTEXT = re.compile(r"isbn|doi|#", re.IGNORECASE)
_VERSION_BEFORE = re.compile(r"\b(?:version|release|build|rev|ver|v)[.:]?\s*\Z", re.IGNORECASE)
_NUMBER_BEFORE = re.compile(r"\d[ \t]+\Z")
_NUMBER_AFTER = re.compile(r"[ \t]+\d")


def _embedded(text: str, start: int, end: int, joiners: str) -> bool:
    """A letter, digit or one of ``joiners`` next to the match, or ``.`` plus a digit: part of a longer token."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    if before.isalnum() or before in joiners or (before == "." and start > 1 and text[start - 2].isdigit()):
        return True
    return after.isalnum() or after in joiners or (after in ".-" and text[end + 1 : end + 2].isdigit())


def _identifier_context(text: str, start: int, end: int) -> bool:
    return _CONTEXT.search(text, max(0, start - CONTEXT_WINDOW), min(len(text), end + CONTEXT_WINDOW)) is not None


def _leading_space(text: str, start: int) -> int:
    """Start of the whitespace run before ``start`` (at most 1,000 back): dolma's phone span begins there, and
    its context window is measured from it."""
    left = start
    while left > 0 and start - left < 1000 and text[left - 1].isspace():
        left -= 1
    return left


def phone_rejection(text: str, start: int, end: int) -> str | None:
    """The name of the first rule the phone-shaped ``text[start:end]`` fails, or None if it is a phone number."""
    if _embedded(text, start, end, "_/="):  # a number in a path or a query string is an identifier
        return "embedded"
    line_start = max(text.rfind("\n", 0, start) + 1, start - 40)
    if _NUMBER_BEFORE.search(text, line_start, start) or _NUMBER_AFTER.match(text, end):
        return "numeric_table"
    digits = "".join(c for c in text[start:end] if c.isdigit())
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    if len(digits) != 10 or digits[0] in "01" or digits[3] in "01":
        return "not_nanp"
    if _identifier_context(text, _leading_space(text, start), end):
        return "identifier_context"
    return None


def ip_rejection(text: str, start: int, end: int) -> str | None:
    """The name of the first rule the IP-shaped ``text[start:end]`` fails, or None if it is an IP address."""
    if _embedded(text, start, end, "_"):  # "http://10.0.0.1/admin" and "10.0.0.0/8" are addresses
        return "embedded"
    if any(len(octet) > 1 and octet[0] == "0" for octet in text[start:end].split(".")):
        return "leading_zero"
    if _VERSION_BEFORE.search(text, max(0, start - 12), start):
        return "version_context"
    if _identifier_context(text, start, end):
        return "identifier_context"
    return None


def _emails(text: str) -> Iterator[tuple[int, int]]:
    """Grow an address outwards from each ``@``: at most 64 local-part and 253 domain characters each."""
    at = text.find("@")
    while at >= 0:
        start = at
        while start > 0 and at - start < _MAX_LOCAL and text[start - 1] in _LOCAL_CHARS:
            start -= 1
        while start < at and text[start] == ".":
            start += 1
        domain = _DOMAIN.match(text, at + 1)
        if start < at and domain is not None:
            end = domain.end()
            while end > at + 1 and text[end - 1] in ".-":
                end -= 1
            labels = text[at + 1 : end].split(".")
            if len(labels) > 1 and all(labels) and _TLD.fullmatch(labels[-1]):
                yield start, end
        at = text.find("@", at + 1)


def candidates(text: str) -> Iterator[tuple[str, int, int, str | None]]:
    """Every e-mail, phone and IP candidate as ``(kind, start, end, rejection)``; ``rejection`` is the name of
    the rule it fails, None for an accepted one. E-mail candidates are already well formed."""
    if "@" in text:
        for start, end in _emails(text):
            yield EMAIL, start, end, None
    for run in _NUMERIC_RUN.finditer(text):
        run_start, run_end = run.span()
        if run_end - run_start >= 10:
            for match in _PHONE.finditer(text, run_start, run_end):
                start, end = match.span()
                if text[start] == "(" and ")" not in text[start:end]:
                    start += 1
                yield PHONE, start, end, phone_rejection(text, start, end)
        for match in _IP.finditer(text, run_start, run_end):
            yield IP, match.start(), match.end(), ip_rejection(text, *match.span())


def detect(text: str) -> dict[str, list[tuple[int, int]]]:
    """``{"email": [...], "phone": [...], "ip": [...]}``: accepted ``(start, end)`` spans of each kind."""
    found: dict[str, list[tuple[int, int]]] = {EMAIL: [], PHONE: [], IP: []}
    for kind, start, end, rejection in candidates(text):
        if rejection is None:
            found[kind].append((start, end))
    return found


@tagger("pii")
class Pii(Tagger):
    """E-mail, phone (North American 3-3-4 shape) and IP address spans, with per-document counts.

    Attributes: spans ``email``, ``phone``, ``ip`` (score 1, covering the address or number only; an empty
    list when there is none, so every key is on every row and the mixer can check names); document values
    ``email_count``, ``phone_count``, ``ip_count``, ``doc_count`` (all three) and ``doc`` (``doc_count`` per
    whitespace word, 0 for a text with no word; dolma ``pii_regex_v2``'s ``doc``). Mask in the mixer by
    replacing the spans (e.g. ``|||EMAIL_ADDRESS|||``).
    """

    attributes = ("email", "phone", "ip", "email_count", "phone_count", "ip_count", "doc_count", "doc")

    exact_scores = True

    def predict(self, doc: Document) -> dict[str, list[Span]]:
        text = doc.text
        size = len(text)
        found = detect(text)
        out: dict[str, list[Span]] = {}
        total = 0
        for kind, spans in found.items():
            out[kind] = [(s, e, 1.0) for s, e in spans]
            out[f"{kind}_count"] = [(0, size, float(len(spans)))]
            total += len(spans)
        out["doc_count"] = [(0, size, float(total))]
        analysis = analysed(text) if total else None  # the words gopher or c4 split already, if they ran
        words = (len(text.split()) if analysis is None else len(analysis.words)) if total else 0
        out["doc"] = [(0, size, round(total / words, 5) if words else 0.0)]
        return out
