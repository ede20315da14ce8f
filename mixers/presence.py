"""Which attribute names a stream's attribute files hold, judged from the counts its file tasks recorded.

allenai/dolma's taggers and deduper write many keys only when true (c4 flags, duplicate spans, URL-list
hits), and its mixer reads an absent key as no match. So does ours; a key missing from some rows is not an
error. Two cases are, and only the data shows them, so the tasks count and the driver judges here:

- a name the stream's filters or span rules read that no row of any of its attribute files (nor any
  document's own ``attributes``) ever held: most likely a typo. Reported in the summary and the manifest;
  an error with ``strict``.
- a stale attribute file: a key the stream reads is in every row of one file of an experiment and in no
  row of a sibling file of the same experiment (written by an older tagger, or by another one). Its
  documents would silently pass the filter, so this is always an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dolma.errors import ConfigError


@dataclass(frozen=True)
class Presence:
    unseen: list[str]
    """Names the stream reads that no row held."""
    stale: list[str]
    """One message per stale file."""


def judge(key: str, experiments: list[str], wanted: set[str], records: list[dict[str, Any]]) -> Presence:
    """``records`` are the stream's task records (``record["presence"]``), in input order; ``wanted`` the
    attribute names its expressions read (empty when one reads every attribute)."""
    seen: set[str] = set()
    by_experiment: list[list[dict[str, Any]]] = [[] for _ in experiments]
    for record in records:
        presence = record.get("presence", {})
        seen.update(presence.get("documents", ()))
        for index, entry in enumerate(presence.get("files", ())):
            seen.update(entry["ever"])
            if entry["rows"]:
                by_experiment[index].append(entry)
    stale = []
    for index, files in enumerate(by_experiment):
        stale.extend(_stale(f"{key}.attributes[{index}]", experiments[index], files))
    return Presence(sorted(wanted - seen), stale)


def _stale(where: str, experiment: str, files: list[dict[str, Any]]) -> list[str]:
    """A file lacking, in every row, a key that every row of a sibling holds; named with that sibling."""
    holder: dict[str, str] = {}
    for entry in files:
        for name in entry["always"]:
            holder.setdefault(name, entry["path"])
    messages = []
    for entry in files:
        missing = sorted(name for name in holder if name not in entry["ever"])
        if missing:
            shown = ", ".join(repr(name) for name in missing[:5])
            messages.append(
                f"{where}: {entry['path']} looks stale: none of its {entry['rows']:,} rows holds {shown}, which "
                f"every row of {holder[missing[0]]} (experiment {experiment!r}) holds; re-tag it so the filter "
                "sees the same attributes in every file"
            )
    return messages


def unseen_note(names: list[str]) -> str:
    shown = ", ".join(repr(name) for name in names)
    return (
        f"no row of the stream's attribute files holds {shown} (read by its filter or span rules); "
        "a misspelt name matches nothing"
    )


def check(presence: Presence, strict: bool, key: str) -> None:
    """Raise for stale files, and with ``strict`` for names no row held."""
    if presence.stale:
        raise ConfigError("; ".join(presence.stale))
    if presence.unseen and strict:
        raise ConfigError(f"{key}: {unseen_note(presence.unseen)} (--strict)")
