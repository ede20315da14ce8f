"""URL block-lists: hosts and plain formats, comments, parent-domain matching, lists on disk and S3."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import msgspec
import pytest
from dolma.taggers.urls import UrlBlocklist, host_of, parse_list_line

from dolma import Document, io
from dolma.errors import ConfigError, InputError

HOSTS = """\
# a hosts file
127.0.0.1 localhost
::1 localhost ip6-localhost
0.0.0.0 0.0.0.0
0.0.0.0 ads.tracker.net   # inline comment
0.0.0.0 Malware.EXAMPLE.org. spam.example.org
127.0.0.1\tphish.test
"""

PLAIN = """\
! adblock-style comment
; another comment

casino.com
https://www.Gambling.io/some/path?q=1
bücher.example
"""


def doc(url: object, text: str = "some text") -> Document:
    return Document(id="d", text=text, metadata=msgspec.Raw(msgspec.json.encode({"url": url})))


@pytest.fixture
def tagger(tmp_path: Path) -> UrlBlocklist:
    hosts = tmp_path / "hosts.txt"
    hosts.write_text(HOSTS)
    plain = tmp_path / "plain.txt.gz"
    plain.write_bytes(gzip.compress(PLAIN.encode()))
    return UrlBlocklist(UrlBlocklist.Params(blocklists=[str(hosts), str(plain)]))


def blocked(tagger: UrlBlocklist, url: object) -> bool:
    return tagger.predict(doc(url))["blocked"][0][2] == 1.0


def test_list_lines_of_both_formats() -> None:
    assert parse_list_line("0.0.0.0 a.com b.com # c.com") == ["a.com", "b.com"]
    assert parse_list_line("127.0.0.1 localhost") == []
    assert parse_list_line("   # only a comment") == []
    assert parse_list_line("Example.COM.") == ["example.com"]
    assert parse_list_line("http://user@host.net:8080/x") == ["host.net"]
    with pytest.raises(ValueError, match="expected a domain"):
        parse_list_line("two words")


def test_listed_domains_and_their_subdomains_are_blocked(tagger: UrlBlocklist) -> None:
    assert tagger.blocked == {
        "ads.tracker.net",
        "malware.example.org",
        "spam.example.org",
        "phish.test",
        "casino.com",
        "www.gambling.io",
        host_of("bücher.example"),
    }
    for url in (
        "http://ads.tracker.net/banner.js",
        "https://x.y.ads.tracker.net",
        "HTTPS://MALWARE.example.org:8443/path",
        "http://user:pw@casino.com/",
        "casino.com/page",
        "https://www.casino.com.",
        "https://www.gambling.io",
        "https://cdn.www.gambling.io/a.png",
        "https://BÜCHER.example/katalog",
        "https://xn--bcher-kva.example/",
    ):
        assert blocked(tagger, url), url


def test_parents_siblings_and_lookalikes_are_not_blocked(tagger: UrlBlocklist) -> None:
    for url in (
        "https://tracker.net",  # parent of a listed name
        "https://example.org",
        "https://gambling.io",  # www.gambling.io is listed, not gambling.io
        "https://notcasino.com",  # a suffix, not a parent domain
        "https://casino.com.evil.net",
        "https://example.com/?next=casino.com",
        "",
        "not a url at all",
    ):
        assert not blocked(tagger, url), url


def test_very_long_hosts_still_match_their_listed_parent(tagger: UrlBlocklist) -> None:
    assert blocked(tagger, "https://" + "a." * 50_000 + "casino.com/x")
    assert not blocked(tagger, "https://" + "a." * 50_000 + "ino.com/x")


def test_documents_without_a_url_are_not_blocked(tagger: UrlBlocklist) -> None:
    assert not blocked(tagger, None)
    assert not blocked(tagger, 42)
    assert tagger.predict(Document(id="d", text="abc")) == {"blocked": [(0, 3, 0.0)]}
    assert tagger.predict(doc("https://casino.com", text="abcd")) == {"blocked": [(0, 4, 1.0)]}


def test_url_field_is_configurable(tmp_path: Path) -> None:
    (tmp_path / "l.txt").write_text("casino.com\n")
    tagger = UrlBlocklist(UrlBlocklist.Params(blocklists=[str(tmp_path / "l.txt")], url_field="source_url"))
    meta = msgspec.Raw(b'{"url": "https://ok.org", "source_url": "https://casino.com"}')
    assert tagger.predict(Document(id="d", text="t", metadata=meta))["blocked"][0][2] == 1.0


def test_list_on_s3(s3_bucket: str) -> None:
    io.write_bytes(f"{s3_bucket}/lists/block.txt.zst", b"0.0.0.0 casino.com\n")
    tagger = UrlBlocklist(UrlBlocklist.Params(blocklists=[f"{s3_bucket}/lists/block.txt.zst"]))
    assert blocked(tagger, "https://casino.com")


def test_missing_empty_and_malformed_lists_are_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.txt does not exist"):
        UrlBlocklist.Params(blocklists=[str(tmp_path / "nope.txt")])
    with pytest.raises(ConfigError, match="at least one"):
        UrlBlocklist.Params(blocklists=[])
    (tmp_path / "empty.txt").write_text("# nothing here\n")
    with pytest.raises(InputError, match="name no domain"):
        UrlBlocklist(UrlBlocklist.Params(blocklists=[str(tmp_path / "empty.txt")]))
    (tmp_path / "bad.txt").write_text("ok.com\nnot a domain\n")
    with pytest.raises(InputError, match=r"bad.txt:2: expected a domain"):
        UrlBlocklist(UrlBlocklist.Params(blocklists=[str(tmp_path / "bad.txt")]))


@pytest.mark.parametrize(
    "url",
    [
        "https://" + "a." * 50_000 + "com",
        "https://x.com/" + "😀" * 100_000,
        "http://" + "b" * 1_000_000,
        "a\n" * 100_000,
    ],
)
def test_adversarial_urls_complete_quickly(tagger: UrlBlocklist, url: str) -> None:
    start = time.perf_counter()
    blocked(tagger, url)
    assert time.perf_counter() - start < 5


ADBLOCK = """\
[Adblock Plus 2.0]
! Title: a list in EasyList's format
||ads.example.com^
||tracker.net^$third-party
||cdn.example.org^$script
||site.com/ads/*
@@||good.ads.example.com^
example.com##.banner
/banner\\d+/
"""


def test_adblock_plus_lists_block_their_whole_domain_rules_only(tmp_path: Path) -> None:
    path = tmp_path / "easylist.txt"
    path.write_text(ADBLOCK)
    tagger = UrlBlocklist(UrlBlocklist.Params(blocklists=[str(path)]))
    assert tagger.blocked == {"ads.example.com", "tracker.net"}
    assert blocked(tagger, "https://x.ads.example.com/page") and blocked(tagger, "http://tracker.net/")
    assert not blocked(tagger, "https://cdn.example.org/") and not blocked(tagger, "https://site.com/ads/1")


def test_adblock_rules_in_a_plain_list_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text("casino.com\n*.ads.com\n")
    with pytest.raises(InputError, match=r"list.txt:2: '\*.ads.com' is not a domain"):
        UrlBlocklist(UrlBlocklist.Params(blocklists=[str(path)]))
    only_paths = tmp_path / "paths.txt"
    only_paths.write_text("[Adblock Plus 2.0]\n||site.com/ads/*\n##.banner\n")
    with pytest.raises(InputError, match="no rule blocking a whole domain"):
        UrlBlocklist(UrlBlocklist.Params(blocklists=[str(only_paths)]))
