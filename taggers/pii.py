"""PII: e-mail addresses, phone numbers, IP addresses and payment card numbers as spans ready for masking,
with per-document counts.

Detection is two steps. Candidates are found by small bounded patterns (each match is at most a few dozen
characters and e-mail addresses are grown outwards from each ``@``), so a document costs linear time however
it is built; dolma's e-mail and phone patterns start with unbounded runs (``[^\\s@]+@``, ``\\s+``) and go
quadratic on a long token or a long run of spaces. Then each candidate must pass named rules; the rules are
what cuts dolma ``pii_regex_v2``'s false positives on section numbers, version numbers, dates and numeric
tables. Phone rules are in :mod:`taggers.phones`, card rules in :mod:`taggers.cards`; IP addresses:

- ``embedded``: part of a longer token: a digit, letter, ``_`` or ``.`` digit next to the match, or a
  letter or digit before a ``-``/``~`` before it, or a ``-``/``+``/``~`` and a letter or digit after it
  ("1.2.3.4.5", "v1.2.3.4", "libfoo-1.2.3.4", "2.4.1.3-1", "1.0.0.2+dfsg").
- ``leading_zero``: an IP octet written with a leading zero ("01.02.2019.10" is a date or version).
- ``version_context``: right after "version", "release", "build", "rev", "ver", "v", "firmware", "kernel",
  "patch", "update" or "driver" (and "versión", "Versão", "версия", "版本", "バージョン"...).
- ``section_context``: right after "section", "§", "chapter", "clause", "paragraph", "appendix", "figure",
  "table", "step", "item", "rule", "article" (and "Abschnitt", "Kapitel", "sección", "capítulo",
  "chapitre", "sezione", "hoofdstuk", "rozdział", "раздел", "глава", "пункт", "章", "节"...): "see Section
  24.2.2.4".
- ``numbered_heading``: at the start of a line (after blanks or ``#``, ``*``, ``-`` markup) and followed
  by a title: an optional ``.`` or ``)``, a space and an upper-case or non-ASCII letter ("24.2.2.4.
  Configuring the server"; a hosts file's "10.0.0.1 gateway" stays an address).
- ``oid``: an object identifier: "OID", "object identifier", "ASN.1", "SNMP" or "MIB" within 100
  characters, or a well-known OID arc at the start (1.2.840, 1.3.6, 1.3.14, 2.5.4, 2.5.29, 2.16.840).
- ``identifier_context``: "ISBN", "ISSN" or "DOI" shortly before, or a "#" right before (dolma looks for
  "isbn", "doi" or "#" within 100 characters either side, which in dense text rejects real addresses).

E-mail addresses fail ``email_shape`` when the domain has no dot-separated alphabetic top-level domain.

A span covers the address or number only (dolma's also covers the spaces and punctuation around it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from dolma.taggers import cards, phones
from dolma.taggers.phones import embedded, identifier_context
from dolma.taggers.phones import phone_rejection as phone_rejection  # re-exported: benchmarks ask pii for any rule
from dolma.taggers.text import analysed

from dolma import Document, Span, Tagger, tagger

EMAIL, PHONE, IP, CARD = "email", "phone", "ip", "credit_card"
KINDS = (EMAIL, PHONE, IP, CARD)

_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-'")
_MAX_LOCAL = 64
_DOMAIN = re.compile(r"[A-Za-z0-9.-]{1,253}")
_TLD = re.compile(r"[A-Za-z]{2,24}")
_NUMERIC_RUN = re.compile(r"[+(\d][\d(). +-]{6,}")
"""Every phone, IP or card match lies inside one such run (their characters all belong to the class) and is at
least 7 characters long; scanning for runs first is what keeps number-free text cheap (a leading character
class lets the regex engine skip ahead in C)."""
_OCTET = r"(?:25[0-5]|2[0-4]\d|[01]?\d\d?)"
_IP = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
_VERSION_BEFORE = re.compile(
    r"\b(?:version|release|build|rev|ver|v|firmware|kernel|patch|update|upgrade|updated|upgraded|driver|versión|"
    r"versione|versão|versie|wersja|verze|versio|версия|версії|版本|バージョン|버전)"
    r"(?:[ \t]+(?:to|from|auf|von|à|de|a|na|на|до))?[.:]?[ \t]*\Z",
    re.IGNORECASE,
)
_SECTION_BEFORE = re.compile(
    r"(?:§|\b(?:sections?|sect|sec|chapters?|ch|clauses?|paragraphs?|para|appendix|annex|figures?|fig|tables?|"
    r"steps?|items?|rules?|articles?|art|parts?|abschnitt|kapitel|absatz|ziffer|sección|secciones|capítulo|"
    r"apartado|chapitre|paragraphe|sezione|capitolo|seção|secção|hoofdstuk|paragraaf|rozdział|punkt|kapitola|"
    r"oddíl|bölüm|madde|avsnitt|luku|kohta|раздел|разделе|глава|главе|пункт|пункте|статья|розділ|"
    r"章|节|節|항|절|장))[.:]?[ \t]*\Z",
    re.IGNORECASE,
)
_HEADING_BEFORE = re.compile(r"(?:\A|\n)[ \t#*>-]*\Z")
_HEADING_AFTER = re.compile(r"[.)]?[ \t]+[^\W\da-z_]")
_OID_CONTEXT = re.compile(r"\b(?:oid|object identifier|asn\.1|snmp|mib)\b", re.IGNORECASE)
_OID_ARCS = ("1.2.840.", "1.3.6.", "1.3.14.", "2.5.4.", "2.5.29.", "2.16.840.")


def ip_rejection(text: str, start: int, end: int) -> str | None:
    """The name of the first rule the IP-shaped ``text[start:end]`` fails, or None if it is an IP address."""
    # "http://10.0.0.1/admin" and "10.0.0.0/8" are addresses
    if embedded(text, start, end, "_") or _versioned(text, start, end):
        return "embedded"
    address = text[start:end]
    if any(len(octet) > 1 and octet[0] == "0" for octet in address.split(".")):
        return "leading_zero"
    if _VERSION_BEFORE.search(text, max(0, start - 24), start):
        return "version_context"
    if _SECTION_BEFORE.search(text, max(0, start - 16), start):
        return "section_context"
    if _HEADING_BEFORE.search(text, max(0, start - 8), start) and _HEADING_AFTER.match(text, end):
        return "numbered_heading"
    if address.startswith(_OID_ARCS) or _OID_CONTEXT.search(text, max(0, start - phones.IDENTIFIER_WINDOW), start):
        return "oid"
    if identifier_context(text, start):
        return "identifier_context"
    return None


def _card_rejection(text: str, start: int, end: int) -> str | None:
    if embedded(text, start, end, "_/=+"):  # "+4915123205325" is a phone number
        return "embedded"
    if phones.in_table(text, start, end):
        return "numeric_table"
    return cards.card_rejection(text[start:end])


def _versioned(text: str, start: int, end: int) -> bool:
    """A package name and ``-`` before ("libfoo-1.2.3.4"), or a release suffix after ("2.4.1.3-1",
    "1.0.0.2+dfsg", "1.2.3.4~rc1")."""
    if start > 1 and text[start - 1] in "-~" and text[start - 2].isalnum():
        return True
    return end + 1 < len(text) and text[end] in "-+~" and text[end + 1].isalnum()


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
    """Every e-mail, phone, IP and card candidate as ``(kind, start, end, rejection)``; ``rejection`` is the
    name of the rule it fails, None for an accepted one. E-mail candidates are already well formed."""
    if "@" in text:
        for start, end in _emails(text):
            yield EMAIL, start, end, None
    for run in _NUMERIC_RUN.finditer(text):
        run_start, run_end = run.span()
        chunk = run.group()
        digits = sum(map(str.isdigit, chunk)) if run_end - run_start >= 10 else 0
        if digits >= 7:  # the fewest a phone number has; a card has 12
            cards_found = []
            for match in cards.CANDIDATE.finditer(text, run_start, run_end) if digits >= 12 else ():
                start, end = match.span()
                rejection = _card_rejection(text, start, end)
                if rejection is None:
                    cards_found.append((start, end))
                yield CARD, start, end, rejection
            for start, end, rejection in phones.candidates(text, run_start, run_end):
                if not any(s < end and start < e for s, e in cards_found):
                    yield PHONE, start, end, rejection
        if chunk.count(".") >= 3:  # what an address needs: most runs (list numbers, code) are skipped here
            for match in _IP.finditer(text, run_start, run_end):
                yield IP, match.start(), match.end(), ip_rejection(text, *match.span())


def detect(text: str) -> dict[str, list[tuple[int, int]]]:
    """``{"email": [...], "phone": [...], "ip": [...], "credit_card": [...]}``: accepted ``(start, end)``
    spans of each kind, in text order, phone spans never overlapping."""
    found: dict[str, list[tuple[int, int]]] = {kind: [] for kind in KINDS}
    for kind, start, end, rejection in candidates(text):
        if rejection is None:
            found[kind].append((start, end))
    if len(found[PHONE]) > 1:
        found[PHONE] = _without_overlaps(found[PHONE])
    return found


def _without_overlaps(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The earliest, then longest, of overlapping spans."""
    kept: list[tuple[int, int]] = []
    for start, end in sorted(spans, key=lambda span: (span[0], -span[1])):
        if not kept or start >= kept[-1][1]:
            kept.append((start, end))
    return kept


@tagger("pii")
class Pii(Tagger):
    """E-mail, phone (North American, international and national), IP address and payment card spans, with
    per-document counts.

    Attributes: spans ``email``, ``phone``, ``ip``, ``credit_card`` (score 1, covering the address or number
    only; an empty list when there is none, so every key is on every row and the mixer can check names);
    document values ``email_count``, ``phone_count``, ``ip_count``, ``credit_card_count``, ``doc_count`` (all
    four kinds) and ``doc`` (``doc_count`` per
    whitespace word, 0 for a text with no word; dolma ``pii_regex_v2``'s ``doc``). Mask in the mixer by
    replacing the spans (e.g. ``|||EMAIL_ADDRESS|||``).
    """

    attributes = (
        *KINDS,
        *(f"{kind}_count" for kind in KINDS),
        "doc_count",
        "doc",
    )

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
