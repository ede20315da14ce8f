"""allenai/dolma's own mixer tests (its tests/python/test_mixer.py) against our output in ``compat:
dolma-1.2``: each of its five test configs runs unchanged from a copy of its tests/ folder, and the shard
its test opens must hold its expected documents, compared as its test compares them (every row has a
``metadata.provenance`` with increasing line numbers, removed before comparing)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess

import pytest
import yaml

from dolma.cli import main
from tests.commands.test_dedupe import DOLMA_GIT, _dolma_file
from tests.helpers import read_jsonl

CASES = {  # config -> (expected file, the shard dolma's test opens)
    "email-spans.json": ("email-spans.json.gz", "tests/work/output/email-spans/email-spans-0000.json.gz"),
    "email-spans-jq.yaml": ("email-spans-jq.json.gz", "tests/work/output/email-spans-jq/email-spans-jq-0000.json.gz"),
    "filter-by-spans.json": (
        "filter-by-spans.json.gz",
        "tests/work/output/filter-by-spans/filter-by-spans-test-0000.json.gz",
    ),
    "mixer.json": ("mixer.json.gz", "tests/work/output/mixer/mixer-test-0000.json.gz"),
    "paragraph-spans.json": (
        "remove-paragraphs.json.gz",
        "tests/work/output/paragraph-spans/paragraph-spans-test-0000.json.gz",
    ),
}


def _provided_files() -> list[str]:
    listing = subprocess.run(
        ["git", "-C", DOLMA_GIT, "ls-tree", "-r", "--name-only", "HEAD", "tests/data/provided"],
        capture_output=True,
        check=True,
        text=True,
    )
    return listing.stdout.split()


def _without_provenance(rows: list[dict]) -> list[dict]:
    previous = 0
    for row in rows:
        path, line = row["metadata"].pop("provenance").rsplit(":", 1)
        assert int(line) > previous and path.endswith(".json.gz")
        previous = int(line)
        if not row["metadata"]:
            row.pop("metadata")
    return rows


@pytest.mark.skipif(not os.path.isdir(DOLMA_GIT), reason="no allenai/dolma checkout (DOLMA_REPO_GIT)")
@pytest.mark.parametrize("case", sorted(CASES))
def test_dolmas_expected_mixer_outputs_in_compat_mode(tmp_path, monkeypatch, case):
    for path in _provided_files():
        os.makedirs(tmp_path / os.path.dirname(path), exist_ok=True)
        (tmp_path / path).write_bytes(_dolma_file(path))
    text = _dolma_file(f"tests/config/{case}").decode()
    config = json.loads(text) if case.endswith(".json") else yaml.safe_load(text)
    config["compat"] = "dolma-1.2"
    (tmp_path / case).write_text(json.dumps(config) if case.endswith(".json") else yaml.safe_dump(config))
    monkeypatch.chdir(tmp_path)  # its relative paths unchanged
    assert main(["-c", case, "mix"]) == 0
    expected_file, shard = CASES[case]
    expected = [
        json.loads(line) for line in gzip.decompress(_dolma_file(f"tests/data/expected/{expected_file}")).splitlines()
    ]
    assert _without_provenance(read_jsonl(str(tmp_path / shard))) == expected
