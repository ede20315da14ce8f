"""A labelled PII set: real sentences from this machine with PII and look-alikes planted at known positions.

The running text is the translated messages of the gettext catalogues under /usr/share/locale (see
:mod:`language_set`), in every language there, keeping only messages without a digit or ``@``: whatever a
detector flags in them is a planted item or a false positive, so no unlabelled PII hides in the base text.
Between sentences, each document gets planted items, each in a short context of the kind real text has
("Tel.: ...", "see Section ...", "ISBN ...", a hosts-file line, a numbered heading at the start of a line):

- PII, by class: ``email``, ``phone_us`` (North American), ``phone_intl`` (numbers of 24 other numbering
  plans, valid by libphonenumber's metadata, written as E.164, international and national formats),
  ``ip`` (IPv4), ``credit_card`` (Luhn-valid numbers of the card networks, grouped or not).
- Look-alikes, which no detector should flag: dates, dotted version strings, OIDs, ISBNs, ranges, numeric
  tables, section numbers and numbered headings, bare 10-digit integers (2^32 - 1, timestamps, values in
  code), Luhn-invalid card-like numbers, ISSNs, coordinates.

Which item goes where is drawn with a fixed seed; the templates were written before any detector was run
on the set.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field

import phonenumbers
from language_set import pools

PHONE_REGIONS = (
    "IN", "CN", "ID", "PK", "NG", "BR", "BD", "RU", "ET", "MX", "JP", "EG", "PH", "CD", "VN", "IR", "TR",
    "DE", "TH", "GB", "FR", "IT", "ZA", "KR",
)  # fmt: skip
PII_CLASSES = ("email", "phone_us", "phone_intl", "ip", "credit_card")
LOOKALIKE_CLASSES = (
    "date",
    "version",
    "oid",
    "isbn",
    "range",
    "table",
    "section",
    "heading",
    "bare_integer",
    "card_invalid",
    "other_number",
)


@dataclass
class Planted:
    kind: str  # a PII class or a look-alike class
    start: int
    end: int


@dataclass
class PiiDocument:
    id: str
    text: str
    planted: list[Planted] = field(default_factory=list)


def _luhn_digit(partial: str) -> str:
    total = 0
    for position, char in enumerate(reversed(partial)):
        value = int(char)
        if position % 2 == 0:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return str((10 - total % 10) % 10)


def _card(rng: random.Random, valid: bool) -> str:
    prefix, length, groups = rng.choice(
        [
            ("4", 16, (4, 4, 4, 4)),
            (str(rng.randint(51, 55)), 16, (4, 4, 4, 4)),
            (str(rng.randint(2221, 2720)), 16, (4, 4, 4, 4)),
            (rng.choice(["34", "37"]), 15, (4, 6, 5)),
            ("6011", 16, (4, 4, 4, 4)),
            (str(rng.randint(3528, 3589)), 16, (4, 4, 4, 4)),
            (rng.choice(["36", "38"]), 14, (4, 6, 4)),
            ("62", 16, (4, 4, 4, 4)),
        ]
    )
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    check = _luhn_digit(body)
    if not valid:
        check = str((int(check) + rng.randint(1, 9)) % 10)
    digits = body + check
    separator = rng.choice([" ", " ", "-", ""])
    parts, at = [], 0
    for size in groups:
        parts.append(digits[at : at + size])
        at += size
    return separator.join(parts)


def _phone(rng: random.Random, region: str) -> str:
    kind = rng.choice([phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE])
    example = phonenumbers.example_number_for_type(region, kind) or phonenumbers.example_number(region)
    national = str(example.national_number)
    for _ in range(100):
        keep = max(2, len(national) - rng.randint(3, 6))
        digits = national[:keep] + "".join(rng.choice(string.digits) for _ in range(len(national) - keep))
        number = phonenumbers.parse("+" + str(example.country_code) + digits, None)
        if example.italian_leading_zero:
            number.italian_leading_zero = True
        if phonenumbers.is_valid_number(number):
            break
    else:
        number = example
    style = rng.choice(
        [phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.INTERNATIONAL]
        + [phonenumbers.PhoneNumberFormat.NATIONAL] * 2
    )
    return phonenumbers.format_number(number, style)


def _us_phone(rng: random.Random) -> str:
    area = f"{rng.randint(2, 9)}{rng.randint(0, 9)}{rng.randint(0, 9)}"
    exchange = f"{rng.randint(2, 9)}{rng.randint(0, 9)}{rng.randint(0, 9)}"
    line = f"{rng.randint(0, 9999):04d}"
    return rng.choice(
        [
            f"({area}) {exchange}-{line}",
            f"{area}-{exchange}-{line}",
            f"{area}.{exchange}.{line}",
            f"+1 {area} {exchange} {line}",
            f"1-{area}-{exchange}-{line}",
            f"+1-{area}-{exchange}-{line}",
        ]
    )


def _email(rng: random.Random) -> str:
    first = rng.choice(["anna", "jean", "li", "maria", "omar", "sven", "yuki", "raj", "olga", "pablo", "k"])
    last = rng.choice(["smith", "dupont", "wang", "garcia", "nguyen", "muller", "tanaka", "kumar", "ivanova"])
    local = rng.choice([f"{first}.{last}", f"{first}{rng.randint(1, 99)}", f"{first}_{last}", f"{first}+lists"])
    domain = rng.choice(
        ["example.com", "mail.example.org", "uni-example.de", "example.co.uk", "lists.example.net", "example.fr"]
    )
    return f"{local}@{domain}"


def _ip(rng: random.Random) -> str:
    return rng.choice(
        [
            f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            f"172.{rng.randint(16, 31)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
            f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        ]
    )


PII_TEMPLATES = {
    "email": ["write to {}", "Contact: {}.", "<{}>", "({})", "mailto:{}", "E-Mail: {}", "courriel : {}", "{},"],
    "phone_us": ["Call {} today", "Tel: {}", "phone {}", "or {}.", "Fax: {}", "at {},"],
    "phone_intl": [
        "Tel.: {}",
        "Telefon: {}",
        "téléphone : {}",
        "телефон {}",
        "電話: {}",
        "call {}",
        "hotline {}",
        "or reach us on {}.",
        "{}",
    ],
    "ip": [
        "the server at {} answered",
        "ping {}",
        "http://{}/admin",
        "IP address: {}",
        "{}:8080",
        "\n{} gateway.local\n",
        "nameserver {}",
        "from {} port",
    ],
    "credit_card": ["card number: {}", "Visa {}", "paid with {}.", "Kartennummer {}", "{} exp 12/27"],
}


def _lookalike(rng: random.Random, kind: str) -> tuple[str, str]:
    """``(template, item)`` of one look-alike of ``kind``."""
    small = lambda: rng.randint(1, 30)  # noqa: E731
    dotted = f"{small()}.{rng.randint(1, 12)}.{rng.randint(1, 9)}.{rng.randint(1, 9)}"
    if kind == "date":
        y, m, d = rng.randint(1990, 2030), rng.randint(1, 12), rng.randint(1, 28)
        item = rng.choice([f"{y}-{m:02d}-{d:02d}", f"{d:02d}.{m:02d}.{y}", f"{m:02d}/{d:02d}/{y}", f"{d}.{m}.{y}"])
        return rng.choice(["released on {}", "Datum: {}", "{} 10:30", "updated {}."]), item
    if kind == "version":
        item = rng.choice(
            [dotted, f"{rng.randint(1, 12)}.{rng.randint(0, 9)}.{rng.randint(0, 99)}.{rng.randint(1, 99)}"]
        )
        template = rng.choice(
            ["version {}", "Version {} is out", "kernel {}", "libfoo-{}", "{}-1", "build {}", "Update to {} fixes"]
        )
        return template, item
    if kind == "oid":
        item = rng.choice(["2.5.4.3", "2.5.4.10", "1.3.6.1", "2.5.29.17", "1.2.840.113549", "1.3.6.1.4.1.311"])
        return rng.choice(["OID {}", "attribute {} (commonName)", "the arc {} in the MIB", "{}"]), item
    if kind == "isbn":
        item = rng.choice(["978-3-16-148410-0", "0-306-40615-2", "9780306406157", "978-0-596-52068-7"])
        return rng.choice(["ISBN {}", "ISBN-13: {}", "isbn {}"]), item
    if kind == "range":
        a = rng.randint(100, 5000)
        item = rng.choice([f"{a}-{a + rng.randint(10, 900)}", f"0{rng.randint(6, 9)}00-{rng.randint(16, 20)}00"])
        return rng.choice(["pages {}", "open {}", "ports {}", "range {}"]), item
    if kind == "table":
        item = " ".join(str(rng.randint(10, 9999)) for _ in range(rng.randint(4, 7)))
        return rng.choice(["\n{}\n", "| {} |", "row {}"]), item
    if kind == "section":
        return rng.choice(["see Section {}", "§ {}", "Kapitel {}", "voir la section {}", "chapter {}"]), dotted
    if kind == "heading":
        title = rng.choice(["Configuring the Server", "Installation", "Übersicht", "Введение", "Options"])
        return "\n{}" + rng.choice([". ", " "]) + title + "\n", dotted
    if kind == "bare_integer":
        item = rng.choice(
            ["4294967295", "2147483647", str(rng.randint(1_500_000_000, 1_800_000_000)), str(rng.randint(2, 9) * 10**9)]
        )
        return rng.choice(["timestamp {}", "max = {}", "| {} |", "id {} in the log", "({})"]), item
    if kind == "card_invalid":
        return rng.choice(["card number: {}", "order {}", "serial {}"]), _card(rng, valid=False)
    if kind == "other_number":
        item = rng.choice(
            [f"{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}", f"{rng.randint(1, 89)}.{rng.randint(1000, 9999)}"]
        )
        return rng.choice(["ISSN {}", "lat {}", "ref. {}", "total {}"]), item
    raise ValueError(kind)


def _pii(rng: random.Random, kind: str) -> tuple[str, str]:
    if kind == "email":
        item = _email(rng)
    elif kind == "phone_us":
        item = _us_phone(rng)
    elif kind == "phone_intl":
        item = _phone(rng, rng.choice(PHONE_REGIONS))
    elif kind == "ip":
        item = _ip(rng)
    else:
        item = _card(rng, valid=True)
    return rng.choice(PII_TEMPLATES[kind]), item


def sentences(locale_dir: str | None = None) -> list[str]:
    """Translated messages without digits or ``@``, in every language of the catalogues."""
    found = pools() if locale_dir is None else pools(locale_dir)
    return sorted(
        {
            m
            for programs in found.values()
            for messages in programs.values()
            for m in messages
            if not any(c.isdigit() or c in "@+#" for c in m)
        }
    )


def build(documents: int = 1500, seed: int = 0, base: list[str] | None = None) -> list[PiiDocument]:
    """``documents`` documents of 3-8 sentences with 1-3 planted items each (half PII, half look-alikes)."""
    rng = random.Random(seed)
    base = sentences() if base is None else base
    out = []
    for i in range(documents):
        doc = PiiDocument(id=f"pii-{i}", text="")
        parts: list[str] = []
        length = 0
        for _ in range(rng.randint(3, 8)):
            sentence = rng.choice(base)
            if parts and rng.random() < 0.5:
                kind = rng.choice(PII_CLASSES if rng.random() < 0.5 else LOOKALIKE_CLASSES)
                template, item = _pii(rng, kind) if kind in PII_CLASSES else _lookalike(rng, kind)
                before, after = template.split("{}")
                piece = f" {before}{item}{after} "
                start = length + 1 + len(before)
                doc.planted.append(Planted(kind, start, start + len(item)))
                parts.append(piece)
                length += len(piece)
            sentence += rng.choice([" ", " ", "\n"])
            parts.append(sentence)
            length += len(sentence)
        doc.text = "".join(parts)
        for item in doc.planted:
            assert doc.text[item.start : item.end].strip() == doc.text[item.start : item.end]
        out.append(doc)
    return out
