"""Outputs record the config that made them: a rerun with other settings refuses or redoes, never skips."""

from __future__ import annotations

import json

import pytest

from dolma import io, provenance
from dolma.cli import main
from dolma.errors import StaleOutputError
from tests.helpers import make_docs, read_jsonl, write_docs


def _tag(root, *args: str) -> int:
    return main(["tag", "--documents", f"{root}/documents/*.gz", "--experiment", "exp", *args])


@pytest.fixture
def corpus(tmp_path):
    for f in range(3):
        write_docs(f"{tmp_path}/documents/{f}.jsonl.gz", make_docs(20, prefix=f"f{f}-"))
    return tmp_path


def test_tag_rerun_with_other_taggers_refuses_naming_the_change(corpus, capsys):
    assert _tag(corpus, "--taggers", "char_length") == 0
    before = io.read_bytes(f"{corpus}/attributes/exp/0.jsonl.gz")
    capsys.readouterr()
    assert _tag(corpus, "--taggers", "whitespace_tokenizer") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert f"{corpus}/attributes/exp: its outputs were made by another config (taggers: " in err
    assert "char_length" in err and "whitespace_tokenizer" in err and "--overwrite" in err
    assert io.read_bytes(f"{corpus}/attributes/exp/0.jsonl.gz") == before


def test_tag_rerun_with_other_parameters_refuses_but_spelled_out_defaults_resume(corpus, capsys):
    assert _tag(corpus, "--taggers", "whitespace_tokenizer") == 0
    assert _tag(corpus, "--taggers", '{"whitespace_tokenizer": {"paragraphs": true}}') == 0
    assert "0 shard(s) done, 3 skipped" in capsys.readouterr().err
    assert _tag(corpus, "--taggers", '{"whitespace_tokenizer": {"paragraphs": false}}') == 2
    assert "paragraphs" in capsys.readouterr().err


def test_overwrite_redoes_with_the_new_config_and_an_interrupted_overwrite_is_refused(corpus):
    assert _tag(corpus, "--taggers", "char_length") == 0
    assert _tag(corpus, "--taggers", "whitespace_tokenizer", "--overwrite") == 0
    for f in range(3):
        rows = read_jsonl(f"{corpus}/attributes/exp/{f}.jsonl.gz")
        assert all(key.startswith("exp__whitespace_tokenizer__") for r in rows for key in r["attributes"])
    assert _tag(corpus, "--taggers", "whitespace_tokenizer") == 0  # the new config's record: a plain resume
    record = f"{corpus}/attributes/exp/.dolma-run.json"
    interrupted = json.loads(io.read_bytes(record))
    interrupted["replacing"] = True  # what a killed --overwrite run leaves
    io.write_bytes(record, json.dumps(interrupted).encode())
    with pytest.raises(StaleOutputError, match="an --overwrite run with this config was interrupted"):
        with provenance.recorded({f"{corpus}/attributes/exp": interrupted["settings"]}, overwrite=False):
            pass


def test_first_run_claims_the_directory_before_writing_outputs(tmp_path):
    destination = str(tmp_path / "out")
    settings = {"command": "tag", "taggers": [["a", {}]]}
    with provenance.recorded({destination: settings}, overwrite=False):
        assert provenance.read_record(destination)["fingerprint"] == provenance.fingerprint(settings)
        # a kill here leaves the record: a rerun with other settings is refused, not a silent skip
    with pytest.raises(StaleOutputError):
        with provenance.recorded({destination: {**settings, "taggers": [["b", {}]]}}, overwrite=False):
            pass


def test_dedupe_rerun_with_other_settings_refuses_instead_of_skipping(corpus, capsys):
    base = ["dedupe", "--documents", f"{corpus}/documents/*.gz", "--dedupe.name", "dd",
            "--dedupe.paragraphs.attribute_name", "dup", "--bloom_filter.size_in_bytes", "65536"]  # fmt: skip
    assert main([*base, "--bloom_filter.file", f"{corpus}/one.bin"]) == 0
    capsys.readouterr()
    assert main([*base, "--bloom_filter.file", f"{corpus}/two.bin", "--dedupe.min_words", "3"]) == 2
    err = capsys.readouterr().err
    assert f"{corpus}/attributes/dd: its outputs were made by another config (" in err and "min_words" in err


def test_minhash_rerun_with_another_seed_refuses(corpus, capsys):
    base = ["dedupe", "--documents", f"{corpus}/documents/*.gz", "--dedupe.name", "near", "--processes", "1"]
    assert main([*base, "--minhash.seed", "1"]) == 0
    capsys.readouterr()
    assert main([*base, "--minhash.seed", "2"]) == 2
    assert "minhash" in capsys.readouterr().err
