"""PII tagger: e-mail, phone and IP spans cover exactly the address; the false positives of dolma's
pii_regex_v2 on version numbers, dates, numeric tables and identifiers are not reported."""

from __future__ import annotations

import pytest

from dolma import Document
from taggers.pii import Pii, detect


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
        ("4155552671 at the start", {"phone": ["4155552671"]}),  # dolma needs whitespace before it
        ("the server at 192.168.1.20 answered", {"ip": ["192.168.1.20"]}),
        ("open http://10.1.2.3/admin and 10.0.0.0/8", {"ip": ["10.1.2.3", "10.0.0.0"]}),
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


def test_counts_and_document_score() -> None:
    text = "mail a@b.org or c@d.net, call 212-555-0199, host 8.8.8.8 ok"
    out = Pii(Pii.Params()).predict(Document(id="d", text=text))
    assert out["email_count"] == [(0, len(text), 2)]
    assert out["phone_count"] == [(0, len(text), 1)]
    assert out["ip_count"] == [(0, len(text), 1)]
    assert out["doc_count"] == [(0, len(text), 4)]
    assert out["doc"][0][2] == round(4 / len(text.split()), 5)
    assert [text[s:e] for s, e, _ in out["email"]] == ["a@b.org", "c@d.net"]


def test_text_without_pii_has_zero_counts_and_no_spans() -> None:
    out = Pii(Pii.Params()).predict(Document(id="d", text=""))
    assert out["doc"] == [(0, 0, 0.0)] and out["email"] == [] and out["doc_count"] == [(0, 0, 0)]
