"""PII tagger: e-mail, phone (North American, international, national), IP and payment card spans cover
exactly the address or number; the look-alikes dolma's pii_regex_v2 flags (version numbers, section numbers,
OIDs, dates, ranges, numeric tables, bare integers, identifiers, Luhn-invalid card numbers) are not reported,
each by its named rule."""

from __future__ import annotations

import re

import pytest
from dolma.taggers.cards import issuer, luhn_valid
from dolma.taggers.pii import Pii, candidates, detect, phone_rejection

from dolma import Document


def found(text: str) -> dict[str, list[str]]:
    return {kind: [text[s:e] for s, e in spans] for kind, spans in detect(text).items() if spans}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to john.smith@example.com today", {"email": ["john.smith@example.com"]}),
        ("<bugs+debian@lists.example.co.uk>", {"email": ["bugs+debian@lists.example.co.uk"]}),
        ("at the end: a.b@mail.org", {"email": ["a.b@mail.org"]}),  # dolma needs whitespace after it
        ("Call (415) 555-2671 now", {"phone": ["(415) 555-2671"]}),
        ("Call 415.555.2671.", {"phone": ["415.555.2671"]}),
        ("tel:+1 404 566 5476", {"phone": ["+1 404 566 5476"]}),
        ("tel:4155552671 at the start", {"phone": ["4155552671"]}),  # dolma needs whitespace before it
        ("the server at 192.168.1.20 answered", {"ip": ["192.168.1.20"]}),
        ("open http://10.1.2.3/admin and 10.0.0.0/8", {"ip": ["10.1.2.3", "10.0.0.0"]}),
        ("hosts:\n10.0.0.1 gateway.local", {"ip": ["10.0.0.1"]}),  # a line start, but no title after it
        # international numbers, valid in their plan (E.164, international format, 00 prefix)
        ("Tel.: +44 20 7946 0958.", {"phone": ["+44 20 7946 0958"]}),
        ("+442079460958 or", {"phone": ["+442079460958"]}),
        ("Ruf 0049 30 12345678 an", {"phone": ["0049 30 12345678"]}),
        ("+91 98765 43210", {"phone": ["+91 98765 43210"]}),
        ("(+33 1 23 45 67 89)", {"phone": ["+33 1 23 45 67 89"]}),
        # national formats: trunk prefix, parenthesised area code or a phone word
        ("call 020 7946 0958 now", {"phone": ["020 7946 0958"]}),
        ("Tel. 030 1234567", {"phone": ["030 1234567"]}),
        ("03-1234-5678", {"phone": ["03-1234-5678"]}),
        ("(11) 91234-5678", {"phone": ["(11) 91234-5678"]}),
        ("8 (495) 123-45-67", {"phone": ["8 (495) 123-45-67"]}),
        ("01 23 45 67 89", {"phone": ["01 23 45 67 89"]}),
        ("电话: 138 0013 8000", {"phone": ["138 0013 8000"]}),
        # payment cards: issuer prefix, length and Luhn check digit
        ("Visa 4111 1111 1111 1111 exp", {"credit_card": ["4111 1111 1111 1111"]}),
        ("amex 378282246310005", {"credit_card": ["378282246310005"]}),
        ("5555-5555-5555-4444", {"credit_card": ["5555-5555-5555-4444"]}),
    ],
)
def test_detects(text: str, expected: dict[str, list[str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Upgraded to version 1.2.3.4 yesterday",  # version numbers (dolma: an IP address)
        "release 10.22.41.29 is out",
        "libfoo 2.6.32.45.1 and 10.22.41.295",  # longer dotted sequences
        "build v4.18.0.1",
        "dated 01.02.2019.10",  # leading zeros: a date or a version, not an IP
        "Released on 2021-05-12 and 12.05.2019 at 10:30",  # dates
        " 2019 2020 2021 2022",
        "| 350 | 420 | 1200 |",
        "row 12 350 420 1200 77",  # numeric table (dolma: a phone number)
        "totals 100 200 3000",  # no such area code
        "timestamp 1612345678 and 16123456789012",  # counters and timestamps
        "Order 555 1234567890 ref",  # inside a longer number
        "ISBN 415-555-2671",  # identifier context
        "doi:10.1000/182 and 212.55.20.1",
        "path organizations/9454078371/config",
        "symbol sysconf@GLIBC_2.4 and foo@bar",  # not an e-mail: no alphabetic top-level domain
    ],
)
def test_rejects_false_positives(text: str) -> None:
    assert found(text) == {}


@pytest.mark.parametrize(
    ("text", "kind", "rule"),
    [
        ("see Section 24.2.2.4 for", "ip", "section_context"),
        ("voir § 12.3.1.2", "ip", "section_context"),
        ("siehe Kapitel 3.2.1.4", "ip", "section_context"),
        ("intro\n24.2.2.4. Configuring the Server", "ip", "numbered_heading"),
        ("## 3.1.2.1 Installation", "ip", "numbered_heading"),
        ("OID 2.5.4.3", "ip", "oid"),
        ("the arc 1.3.6.1 in the tree", "ip", "oid"),
        ("Update to 4.4.41.90 now", "ip", "version_context"),
        ("Version 10.5.1.1 is out", "ip", "version_context"),
        ("libfoo-1.2.3.4", "ip", "embedded"),
        ("package 2.4.1.3-1", "ip", "embedded"),
        ("max = 4294967295", "phone", "bare_integer"),  # 2^32 - 1: North American in shape
        ("max = 2147483647;", "phone", "bare_integer"),
        ("released 01.02.2019.10", "phone", "date"),
        ("open 0800-1700 daily", "phone", "range"),
        ("reach us on 131 2345 6415", "phone", "no_national_sign"),  # not even a candidate: checked directly
        ("Tel.: +44 20 7946 095", "phone", "invalid_number"),
        ("ISBN 0-306-40615-2", "phone", "identifier_context"),
        ("card number: 4111 1111 1111 1112", "credit_card", "luhn"),
        ("order 9111 1111 1111 1113", "credit_card", "issuer"),
        ("row 4111 1111 1111 1111 2096 3924", "credit_card", "numeric_table"),
        ("Tel.: +4111111111111", "credit_card", "embedded"),  # an E.164 number is not a 13-digit Visa
    ],
)
def test_look_alikes_fail_their_rule(text: str, kind: str, rule: str) -> None:
    """The look-alike is rejected by the named rule: as a candidate, or (a number without a national sign is
    skipped before any rule runs) when the rule is asked about the whole number."""
    rejected = [r for k, _s, _e, r in candidates(text) if k == kind]
    if not rejected and kind == "phone":
        number = re.search(r"[+(\d][\d ()./-]*\d", text)
        assert number is not None
        rejected = [phone_rejection(text, *number.span())]
    assert rule in rejected
    assert kind not in found(text)


def test_luhn_check_and_issuers() -> None:
    assert luhn_valid("4111111111111111") and luhn_valid("378282246310005") and luhn_valid("79927398713")
    assert not luhn_valid("4111111111111112") and not luhn_valid("79927398710")
    assert issuer("4111111111111111") == "visa" and issuer("378282246310005") == "amex"
    assert issuer("2221000000000009") == "mastercard" and issuer("5555555555554444") == "mastercard"
    assert issuer("9111111111111113") is None  # Luhn-valid, but no network issues 9...
    assert issuer("41111111111111") is None  # a Visa prefix, a length Visa does not use
    assert found("Karte 9111 1111 1111 1113") == {}


def test_counts_and_document_score() -> None:
    text = "mail a@b.org or c@d.net, call 212-555-0199, host 8.8.8.8 ok, card 4111 1111 1111 1111"
    out = Pii(Pii.Params()).predict(Document(id="d", text=text))
    assert out["email_count"] == [(0, len(text), 2)]
    assert out["phone_count"] == [(0, len(text), 1)]
    assert out["ip_count"] == [(0, len(text), 1)]
    assert out["credit_card_count"] == [(0, len(text), 1)]
    assert out["doc_count"] == [(0, len(text), 5)]
    assert out["doc"][0][2] == round(5 / len(text.split()), 5)
    assert [text[s:e] for s, e, _ in out["email"]] == ["a@b.org", "c@d.net"]


def test_text_without_pii_has_zero_counts_and_no_spans() -> None:
    out = Pii(Pii.Params()).predict(Document(id="d", text=""))
    assert out["doc"] == [(0, 0, 0.0)] and out["email"] == [] and out["doc_count"] == [(0, 0, 0)]
    assert out["credit_card"] == [] and out["credit_card_count"] == [(0, 0, 0)]
