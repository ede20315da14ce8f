"""URL/domain block-lists: flag documents whose ``metadata.url`` host, or a parent domain of it, is listed.

No list is bundled; the user names list files (local or ``s3://``, compressed by extension). Two formats are
read, mixed freely: hosts files (``0.0.0.0 ads.example.com``, several names per line allowed) and plain
lists (one domain, or a URL whose host is taken, per line). ``#``, ``!`` and ``;`` start comments; blank
lines are ignored. A line that is neither (``||ads.com^``, ``*.ads.com``) is an error naming it.

Adblock-Plus filter lists (EasyList and most widely shared block-lists) are recognised by their
``[Adblock Plus ...]`` header or their ``||domain^`` rules, and read as such: a rule blocking a whole domain
(``||ads.example.com^``, alone or with options that still apply to a page: ``$document``, ``$all``,
``$third-party``, ``$popup``, ``$important``) lists the domain; every other rule (a path, a wildcard, a
resource type such as ``$script``, an exception ``@@``, element hiding ``##``) cannot be read as a domain and
is skipped. A list in which no rule blocks a whole domain is an error, not a list that blocks nothing.

A listed domain blocks itself and every subdomain: ``example.com`` blocks ``www.example.com`` and
``a.b.example.com``, while ``www.example.com`` does not block ``example.com``.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from dolma import Document, Span, Tagger, TaggerParams, document_span, io, tagger
from dolma.errors import ConfigError, InputError

_COMMENT = re.compile(r"[#!;]")
_DOMAIN = re.compile(r"[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?\.?")
_ADBLOCK_DOMAIN_RULE = re.compile(r"\|\|([a-z0-9_.-]+)\^?(?:\$([a-z0-9_~,-]*))?")
_ADBLOCK_PAGE_OPTIONS = frozenset(["document", "doc", "all", "third-party", "3p", "popup", "important"])
_HOSTS_SPECIAL = frozenset(
    ["localhost", "localhost.localdomain", "local", "broadcasthost", "ip6-localhost", "ip6-loopback", "0.0.0.0"]
)


def _is_ip(token: str) -> bool:
    try:
        ipaddress.ip_address(token)
    except ValueError:
        return False
    return True


def host_of(url: str) -> str | None:
    """The lower-cased host of ``url`` (a scheme is optional), without a trailing dot, internationalised names
    in their ASCII (punycode) form so lists and URLs compare either way; None if it has no host."""
    url = url.strip()
    if not url:
        return None
    if "://" not in url[:16]:
        url = "//" + url
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    host = host.rstrip(".") if host else None
    if host and not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            pass  # not a valid IDN: compare it as written
    return host or None


def parse_list_line(line: str) -> list[str]:
    """The domains a list line names: a hosts line's names after its address, or a plain line's host."""
    cut = _COMMENT.search(line)
    tokens = (line[: cut.start()] if cut else line).split()
    if not tokens:
        return []
    if len(tokens) > 1 and _is_ip(tokens[0]):
        names = [t.lower().rstrip(".") for t in tokens[1:]]
        return [name for name in names if name and name not in _HOSTS_SPECIAL]
    if len(tokens) > 1:
        raise ValueError(f"expected a domain, a URL, or an address followed by names; got {line.strip()!r}")
    token = tokens[0]
    if token.isascii() and not any(c in token for c in "/:@[?"):  # a bare domain: what big lists are made of
        host = token.lower().rstrip(".")
        if not _DOMAIN.fullmatch(host):
            raise ValueError(f"{token!r} is not a domain (Adblock-Plus rules need the list's [Adblock Plus] header)")
    else:
        host = host_of(token) or ""
    return [host] if host else []


def is_adblock(lines: list[str]) -> bool:
    """An Adblock-Plus list: its ``[Adblock Plus 2.0]`` header, or a ``||domain^`` rule among its first lines."""
    head = [line.strip() for line in lines[:200] if line.strip()]
    return any(line.startswith(("[Adblock", "||", "@@||")) for line in head)


def parse_adblock_line(line: str) -> tuple[str | None, bool]:
    """``(domain, is_rule)``: the domain a rule blocks as a whole, or None when the rule is something else
    (skipped); ``is_rule`` is False for comments, the header and blank lines."""
    line = line.strip()
    if not line or line.startswith(("!", "[")):
        return None, False
    match = _ADBLOCK_DOMAIN_RULE.fullmatch(line.lower())
    if match is None:
        return None, True
    options = {option for option in (match.group(2) or "").split(",") if option}
    if not options <= _ADBLOCK_PAGE_OPTIONS:
        return None, True
    return match.group(1).rstrip("."), True


def load_blocklist(path: str) -> set[str]:
    lines = io.read_text(path).splitlines()
    domains: set[str] = set()
    if is_adblock(lines):
        skipped = 0
        for line in lines:
            domain, is_rule = parse_adblock_line(line)
            if domain:
                domains.add(domain)
            elif is_rule:
                skipped += 1
        if not domains:
            raise InputError(
                f"{path}: an Adblock-Plus list with no rule blocking a whole domain (||domain^); its {skipped:,} "
                "rules block paths, resource types or page elements, which a URL block-list cannot apply"
            )
        return domains
    for lineno, line in enumerate(lines, start=1):
        try:
            domains.update(parse_list_line(line))
        except ValueError as exc:
            raise InputError(f"{path}:{lineno}: {exc}") from None
    return domains


def is_blocked(host: str, blocked: set[str], longest: int) -> bool:
    """True if ``host`` or one of its parent domains (``a.b.c`` -> ``b.c`` -> ``c``) is in ``blocked``.

    Only suffixes no longer than the ``longest`` listed name are looked up, so a hostile host of 50,000
    labels costs at most ``longest`` lookups, not a quadratic number of copies."""
    if len(host) > longest:
        dot = host.find(".", len(host) - longest - 1)
        if dot < 0:
            return False
        host = host[dot + 1 :]
    while True:
        if host in blocked:
            return True
        dot = host.find(".")
        if dot < 0:
            return False
        host = host[dot + 1 :]


@tagger("url_blocklist")
class UrlBlocklist(Tagger):
    """1 if the document's URL host or a parent domain is in the user's block-list files, else 0."""

    attributes = ("blocked",)

    class Params(TaggerParams):
        blocklists: list[str]
        """Block-list files (hosts format or one domain per line), local or s3://, .gz/.zst by extension."""
        url_field: str = "url"
        """The metadata key holding the document's URL."""

        def __post_init__(self) -> None:
            if not self.blocklists:
                raise ConfigError("taggers.url_blocklist.blocklists: give at least one list file")
            for path in self.blocklists:
                if not io.exists(path):
                    raise ConfigError(f"taggers.url_blocklist.blocklists: {path} does not exist")

    def __init__(self, params: TaggerParams) -> None:
        super().__init__(params)
        self.blocked: set[str] = set()
        for path in self.params.blocklists:
            self.blocked |= load_blocklist(path)
        if not self.blocked:
            raise InputError(f"taggers.url_blocklist: the lists {', '.join(self.params.blocklists)} name no domain")
        self.longest = max(map(len, self.blocked))

    def predict(self, doc: Document) -> dict[str, list[Span]]:
        url = doc.meta.get(self.params.url_field)
        host = host_of(url) if isinstance(url, str) else None
        blocked = host is not None and is_blocked(host, self.blocked, self.longest)
        return {"blocked": document_span(doc.text, 1.0 if blocked else 0.0)}
