"""What produced a destination's outputs: a record of the config keys that change results, checked on rerun.

A rerun skips shards whose outputs exist; without a record it would keep attributes made by other taggers,
parameters or dedupe settings and report "0 shard(s) done, 8 skipped". Each destination directory therefore
holds a small record (``.dolma-run.json``, skipped by globs) with the fingerprint of the settings that made it:

- no record: this run claims the directory (the record is written before any output, so outputs of a
  killed first run are still attributed to their config);
- same fingerprint: a resume, as before;
- another fingerprint: the run refuses, naming the keys that differ, unless ``--overwrite`` is given; then
  the record is marked ``replacing`` before work and rewritten clean only after every shard was redone, so
  a killed replacement is refused again rather than mistaken for a finished one.

A record covers the whole directory: outputs in it not redone by an overwrite run keep the old settings.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import xxhash

from dolma import io
from dolma.errors import InputError, StaleOutputError


def fingerprint(settings: Mapping[str, Any]) -> str:
    """A stable hash of ``settings`` (JSON with sorted keys)."""
    return xxhash.xxh3_64_hexdigest(json.dumps(settings, sort_keys=True, default=str).encode())


def record_path(destination: str) -> str:
    return io.join(destination, io.RECORD_NAME)


def read_record(destination: str) -> dict[str, Any] | None:
    path = record_path(destination)
    if not io.exists(path):
        return None
    try:
        record = json.loads(io.read_bytes(path))
    except (ValueError, InputError):
        return {}
    return record if isinstance(record, dict) else {}


def _write(destination: str, settings: Mapping[str, Any], replacing: bool) -> None:
    record = {"fingerprint": fingerprint(settings), "settings": settings, "replacing": replacing}
    io.write_bytes(record_path(destination), json.dumps(record, sort_keys=True, indent=1).encode() + b"\n")


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return ", ".join(f"{k}: {json.dumps(old.get(k))} -> {json.dumps(new.get(k))}" for k in keys)[:400]


@contextmanager
def recorded(destinations: Mapping[str, Mapping[str, Any]], overwrite: bool) -> Iterator[None]:
    """Check each destination's record against its settings (``destination -> settings``), claim the
    unrecorded ones, and on success of the block mark replaced ones clean. Hold the destinations' locks."""
    replacing = []
    for destination, settings in sorted(destinations.items()):
        record = read_record(destination)
        if record is None:
            _write(destination, settings, replacing=False)
            continue
        if record.get("fingerprint") == fingerprint(settings) and not record.get("replacing"):
            continue
        if not overwrite:
            if record.get("replacing") and record.get("fingerprint") == fingerprint(settings):
                reason = "an --overwrite run with this config was interrupted before it redid every shard"
            else:
                old = record.get("settings")
                changed = _differences(old, settings) if isinstance(old, dict) else "unreadable record"
                reason = f"its outputs were made by another config ({changed})"
            raise StaleOutputError(
                f"{destination}: {reason}; rerun with --overwrite to redo them, or write to another destination"
            )
        _write(destination, settings, replacing=True)
        replacing.append((destination, settings))
    yield
    for destination, settings in replacing:
        _write(destination, settings, replacing=False)
