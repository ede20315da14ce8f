"""Payment card numbers: issuer prefix and length, then the Luhn checksum.

A 13-19 digit number is a card number only when its leading digits belong to a card issuer (the ISO/IEC 7812
issuer identification number ranges the networks publish), its length is one that issuer uses, and its last
digit is the Luhn check digit of the others. The checksum alone passes one random number in ten; with the
issuer ranges, long identifiers, order numbers, ISBNs and serials are almost never taken for cards.
"""

from __future__ import annotations

import re

_ISSUERS: tuple[tuple[str, tuple[tuple[int, int], ...], tuple[int, ...]], ...] = (
    # (network, inclusive ranges of the leading digits (compared with as many digits as the bounds have), lengths)
    ("visa", ((4, 4),), (13, 16, 19)),
    ("mastercard", ((51, 55), (2221, 2720)), (16,)),
    ("amex", ((34, 34), (37, 37)), (15,)),
    ("diners", ((300, 305), (36, 36), (38, 39)), (14, 15, 16, 17, 18, 19)),
    ("discover", ((6011, 6011), (644, 649), (65, 65), (622126, 622925)), (16, 17, 18, 19)),
    ("jcb", ((3528, 3589),), (16, 17, 18, 19)),
    ("unionpay", ((62, 62),), (16, 17, 18, 19)),
    ("maestro", ((5018, 5018), (5020, 5020), (5038, 5038), (5893, 5893), (6304, 6304), (6759, 6763)), (12, 13, 16, 19)),
    ("mir", ((2200, 2204),), (16, 17, 18, 19)),
    ("rupay", ((60, 60), (81, 82), (508, 508)), (16,)),
)

CANDIDATE = re.compile(r"\d{4}([ -]?)\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -]?)\d{6}\2\d{4,5}")
"""Card numbers as printed: 4-4-4-4 groups (and 4-4-4-1..7), Amex and Diners 4-6-5 / 4-6-4, or no separators;
one separator kind throughout (a space or a hyphen)."""


def issuer(digits: str) -> str | None:
    """The card network whose number ranges and lengths include ``digits``, or None."""
    for name, ranges, lengths in _ISSUERS:
        if len(digits) not in lengths:
            continue
        for low, high in ranges:
            prefix = int(digits[: len(str(low))])
            if low <= prefix <= high:
                return name
    return None


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check: from the right, every second digit is doubled (minus 9 above 9); the sum of
    all must end in 0."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def card_rejection(number: str) -> str | None:
    """``issuer`` or ``luhn``: the rule a card-shaped ``number`` fails, or None for a card number."""
    digits = "".join(c for c in number if c.isdigit())
    if issuer(digits) is None:
        return "issuer"
    if not luhn_valid(digits):
        return "luhn"
    return None
