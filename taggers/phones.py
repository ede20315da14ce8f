"""Phone numbers: the North American 3-3-4 shape, international numbers (``+44 20 7946 0958``,
``+4930123456``, ``0049 30 123456``) and national formats of the most populous numbering plans
(``020 7946 0958``, ``030 1234567``, ``03-1234-5678``, ``(11) 91234-5678``, ``8 (495) 123-45-67``).

North American numbers keep the cheap shape rules they always had. Every other number must be a valid
number of its plan according to Google's libphonenumber metadata (the ``phonenumbers`` package): a number
written with ``+`` or ``00`` in the plan of its country code, a national one in one of
:data:`NATIONAL_REGIONS`. The library is called only for grouped numbers that already passed the shape
rules (a few per document that has any), so number-free text costs nothing more.

National numbers need a sign that they are phone numbers, because a grouped number without one is as often
a date, a range or a table: a trunk prefix (``0``, or ``8`` before a parenthesised area code), a
parenthesised area code, or a phone word just before them ("Tel.", "phone:", "Fax", "телефон", "電話"...).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

import phonenumbers

NATIONAL_REGIONS = (
    "IN", "CN", "ID", "PK", "NG", "BR", "BD", "RU", "ET", "MX", "JP", "EG", "PH", "CD", "VN", "IR", "TR",
    "DE", "TH", "GB", "FR", "IT", "ZA", "KR", "ES",
)  # fmt: skip
"""The numbering plans tried for a number written without a country code: the most populous after the North
American plan (which has its own rules), in order of population."""

NANP = re.compile(r"(?:\+?1[-. ]?)?\(?\d{3}\)?[-. ]{0,3}\d{3}[-. ]?\d{4}")
GROUPED = re.compile(r"(?:\+ ?|\(\+?)?\d[\d()./ -]{5,24}\d")
"""A number written in groups, from a ``+``, a ``(`` or a digit to a digit: international and national
candidates (split further by the rules, never by the regex)."""
_SEPARATORS = frozenset(" -./()")
_SIGN = re.compile(r"\+ ?\d|\(\+?\d{1,5}\)[ -]?\d|(?<![\d.-])0\d")
"""What a run holding a grouped candidate has, unless a phone word precedes the candidate: a ``+`` and a digit, a
parenthesised area code and a digit, or a group starting with 0 (trunk prefix, ``00``)."""
_DAY, _MONTH, _YEAR = r"(?:0?[1-9]|[12]\d|3[01])", r"(?:0?[1-9]|1[0-2])", r"(?:1[6-9]|20)\d\d"
_DATE = re.compile(
    rf"(?:{_DAY}([./-]){_MONTH}\1{_YEAR}|{_MONTH}([./-]){_DAY}\2{_YEAR}|{_YEAR}([./-]){_MONTH}\3{_DAY})(?!\d)"
)
"""A calendar date at the start of a number (day, month or year first): "01.02.2019.10", "2024-05-12 1200"."""
_PHONE_WORD = re.compile(
    r"tel|tél|phone|fon|fax|mobil|móvil|movil|cell|call|hotline|whatsapp|sms|contact|kontakt|appel|llam|ligue|"
    r"телефон|тел\.|моб|電話|电话|手机|전화|هاتف|تلفن|ফোন|फ़ोन|फोन|โทร|điện thoại|☎|📞"
)
"""A word that says a phone number follows ("Tel.:", "call", "Telefon", "телефон", "電話"...), matched in
lower case and kept only at a word start (no leading ``\b``: it would stop the regex engine from skipping
ahead by the words' first characters, which makes this check 3x faster)."""
PHONE_WORD_WINDOW = 30
_NUMBER_BEFORE = re.compile(r"\d[ \t]+\Z")
_NUMBER_AFTER = re.compile(r"[ \t]+\d")
_IDENTIFIER = re.compile(r"\b(?:isbn|issn|doi)\b[^\n]{0,24}\Z|#[ \t]?\Z", re.IGNORECASE)
IDENTIFIER_WINDOW = 32
_RANGE = re.compile(r"(\d{1,4}) ?[-–] ?(\d{1,4})")


def embedded(text: str, start: int, end: int, joiners: str) -> bool:
    """A letter, digit or one of ``joiners`` next to the match, or ``.``/``-`` and a digit: part of a longer
    token."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    if before.isalnum() or before in joiners or (before in ".-" and start > 1 and text[start - 2].isdigit()):
        return True
    return after.isalnum() or after in joiners or (after in ".-" and text[end + 1 : end + 2].isdigit())


def identifier_context(text: str, start: int) -> bool:
    """An "ISBN", "ISSN" or "DOI" shortly before (dolma looks for "isbn", "doi" or "#" within 100 characters either
    side, which in dense text catches the neighbours of every identifier), or a "#" right before."""
    return _IDENTIFIER.search(text, max(0, start - IDENTIFIER_WINDOW), start) is not None


def phone_word_before(text: str, start: int) -> bool:
    left = max(0, start - PHONE_WORD_WINDOW)
    window = text[left:start].lower()
    for match in _PHONE_WORD.finditer(window):
        at = left + match.start()
        if at == 0 or not text[at - 1].isalpha():
            return True
    return False


def in_table(text: str, start: int, end: int) -> bool:
    line_start = max(text.rfind("\n", 0, start) + 1, start - 40)
    return _NUMBER_BEFORE.search(text, line_start, start) is not None or _NUMBER_AFTER.match(text, end) is not None


def nanp_rejection(text: str, start: int, end: int) -> str | None:
    """The first rule the North American 3-3-4 shaped ``text[start:end]`` fails, or None."""
    if embedded(text, start, end, "_/="):  # a number in a path or a query string is an identifier
        return "embedded"
    if in_table(text, start, end):
        return "numeric_table"
    number = text[start:end]
    digits = "".join(c for c in number if c.isdigit())
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    if len(digits) != 10 or digits[0] in "01" or digits[3] in "01":
        return "not_nanp"
    if number.isdigit() and not phone_word_before(text, start):
        return "bare_integer"
    if identifier_context(text, start):
        return "identifier_context"
    return None


@lru_cache(maxsize=4096)
def valid_in(number: str, region: str | None) -> bool:
    """Whether ``number`` parses as a valid number of ``region`` (None: it must carry its country code)."""
    try:
        return bool(phonenumbers.is_valid_number(phonenumbers.parse(number, region)))
    except phonenumbers.NumberParseException:
        return False


def _international(number: str) -> str | None:
    """``number`` written with ``+`` (``00`` read as ``+``), or None for a national number."""
    if number.startswith(("+", "(+")):
        return number
    if number.startswith("00") and number[2:3] != "0":
        return "+" + number[2:]
    return None


def _national_sign(text: str, start: int, number: str) -> bool:
    """A trunk prefix, a parenthesised area code or a phone word before: a national number looks meant."""
    return number.startswith(("0", "(", "8 (", "8(")) or phone_word_before(text, start)


def grouped_rejection(text: str, start: int, end: int) -> str | None:
    """The first rule the grouped number ``text[start:end]`` fails, or None if it is a phone number."""
    number = text[start:end]
    if embedded(text, start, end, "_/="):
        return "embedded"
    digits = sum(c.isdigit() for c in number)
    international = _international(number)
    if not 7 <= digits <= (17 if number.startswith("00") else 15):
        return "length"
    if international is None:
        if _DATE.match(number):
            return "date"
        if in_table(text, start, end):
            return "numeric_table"
        if (pair := _RANGE.fullmatch(number)) and int(pair[1]) < int(pair[2]) and len(pair[1]) == len(pair[2]):
            return "range"
        if not _national_sign(text, start, number):
            return "no_national_sign"
        if all(c.isdigit() for c in number) and not phone_word_before(text, start):
            return "bare_integer"
    if identifier_context(text, start):
        return "identifier_context"
    if international is not None:
        return None if valid_in(international, None) else "invalid_number"
    return None if any(valid_in(number, region) for region in NATIONAL_REGIONS) else "invalid_number"


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop an unmatched ``(`` at the start and an unmatched ``)`` at the end."""
    number = text[start:end]
    if number.startswith("(") and ")" not in number:
        start += 1
    if number.endswith(")") and "(" not in number:
        end -= 1
    return start, end


def candidates(text: str, run_start: int, run_end: int) -> Iterator[tuple[int, int, str | None]]:
    """Phone candidates inside one numeric run as ``(start, end, rejection)``: North American shapes first,
    then grouped numbers that do not overlap an accepted North American one. A grouped number with fewer than
    7 digits, or written without ``+``/``00`` and without a national sign, is no candidate at all: most
    numbers in text are such, and they are skipped before any rule runs."""
    accepted: list[tuple[int, int]] = []
    for match in NANP.finditer(text, run_start, run_end):
        start, end = _trimmed(text, *match.span())
        rejection = nanp_rejection(text, start, end)
        if rejection is None:
            accepted.append((start, end))
        yield start, end, rejection
    # a run without a sign nor a phone word before it holds no grouped candidate: most runs stop here
    if not _SIGN.search(text, run_start, run_end) and not phone_word_before(text, run_start):
        return
    for match in GROUPED.finditer(text, run_start, run_end):
        start, end = _trimmed(text, *match.span())
        while end > start and text[end - 1] in _SEPARATORS:
            end -= 1
        number = text[start:end]
        if sum(map(str.isdigit, number)) < 7 or any(s < end and start < e for s, e in accepted):
            continue
        if _international(number) is None and not _national_sign(text, start, number):
            continue
        yield start, end, grouped_rejection(text, start, end)


def phone_rejection(text: str, start: int, end: int) -> str | None:
    """The first rule the phone-shaped ``text[start:end]`` fails, or None if it is a phone number."""
    if NANP.fullmatch(text, start, end):
        return nanp_rejection(text, start, end)
    return grouped_rejection(text, start, end)
