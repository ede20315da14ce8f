"""Mix configs that parse but cannot do what was meant are refused before the run, or shouted about after it;
output folders hold only data files, so data loaders read them as they are."""

from __future__ import annotations

import json
import os

import pytest

from tests.commands.test_mix import FILTERED, corpus, manifest, mix, shards, stream


def test_a_filter_that_forgets_the_score_index_is_refused_before_the_run(tmp_path, capsys):
    corpus(tmp_path, files=1)
    bad = {"filter": {"include": ["$.attributes[?(@.exp__len >= 10)]"]}}
    assert mix(tmp_path, [stream(tmp_path, **bad)]) == 2
    err = capsys.readouterr().err
    assert "streams[0].filter.include[0]: `@.exp__len >= 10` compares a list ([[0," in err
    assert "write `@.exp__len[0][2]`" in err and "000.jsonl.gz" in err
    assert not os.path.exists(tmp_path / "out")


def test_a_number_compared_with_a_string_is_refused(tmp_path, capsys):
    corpus(tmp_path, files=1)
    bad = {"filter": {"exclude": ["$.attributes[?(@.exp__flag[0][2] == '1')]"]}}
    assert mix(tmp_path, [stream(tmp_path, **bad)]) == 2
    err = capsys.readouterr().err
    assert 'streams[0].filter.exclude[0]: `@.exp__flag[0][2] == "1"` compares a number (1) with a string' in err
    top_level = {"filter": {"include": ["$[?(@.id > 5)]"]}}  # a $-rooted comparison of the id string
    assert mix(tmp_path, [stream(tmp_path, **top_level)]) == 2
    assert 'compares a string ("f0-0") with a number' in capsys.readouterr().err


def test_a_top_fraction_score_that_selects_a_list_is_refused(tmp_path, capsys):
    corpus(tmp_path, files=1)
    bad = {"top_fraction": {"score": "$.attributes.exp__score", "fraction": 0.5}}
    assert mix(tmp_path, [stream(tmp_path, **bad)]) == 2
    err = capsys.readouterr().err
    assert "streams[0].top_fraction.score: selects a list ([[0," in err and "end the path with [0][2]" in err
    good = {"top_fraction": {"score": "$.attributes.exp__score[0][2]", "fraction": 0.5}}
    assert mix(tmp_path, [stream(tmp_path, **good)]) == 0


def test_correct_filters_still_run(tmp_path):
    corpus(tmp_path, files=1)
    assert mix(tmp_path, [stream(tmp_path, **FILTERED)], "--processes", "1") == 0


def test_a_rule_that_drops_everything_is_a_warning_in_the_summary(tmp_path, capsys):
    corpus(tmp_path, files=1)
    nothing = {"filter": {"include": ["$.attributes[?(@.exp__len[0][2] > 100000)]"]}}
    assert mix(tmp_path, [stream(tmp_path, **nothing)], "--processes", "1") == 0
    err = capsys.readouterr().err
    assert "WARNING: stream s kept 0 of 60 documents" in err
    assert "WARNING: s: filter.include dropped every document that reached it (60)" in err


def test_a_changed_config_does_not_replace_a_mix_without_overwrite(tmp_path, capsys):
    corpus(tmp_path, files=2)
    assert mix(tmp_path, [stream(tmp_path, **FILTERED)], "--processes", "1") == 0
    before = {path: open(path, "rb").read() for path in shards(tmp_path / "out")}
    changed = {**FILTERED, "sample_rate": 0.5}
    capsys.readouterr()
    assert mix(tmp_path, [stream(tmp_path, **changed)], "--processes", "1") == 2
    err = capsys.readouterr().err
    assert f"{tmp_path}/out holds a mix made by another config (hash" in err and "--overwrite" in err
    assert {path: open(path, "rb").read() for path in shards(tmp_path / "out")} == before
    assert mix(tmp_path, [stream(tmp_path, **changed)], "--processes", "1", "--overwrite") == 0
    assert manifest(tmp_path / "out")["config"]["streams"][0]["sample_rate"] == 0.5


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_output_folder_loads_as_a_dataset_as_it_is(tmp_path, monkeypatch, fmt):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    corpus(tmp_path, files=2)
    assert mix(tmp_path, [stream(tmp_path, output={"format": fmt}, **FILTERED)], "--processes", "2") == 0
    out = tmp_path / "out"
    written = manifest(out)["streams"][0]["counts"]["written"]["documents"]
    assert all(
        name.startswith("s-") and name.endswith(f".{fmt}" + (".gz" if fmt == "jsonl" else ""))
        for name in os.listdir(out)
    )
    import datasets

    builder = "parquet" if fmt == "parquet" else "json"
    loaded = datasets.load_dataset(builder, data_dir=str(out), split="train", cache_dir=str(tmp_path / "hf"))
    assert loaded.num_rows == written > 0
    if fmt == "parquet":
        import pyarrow.parquet as pq

        assert pq.read_table(str(out)).num_rows == written
    else:
        import pyarrow.dataset as ds

        assert ds.dataset(str(out), format="json").to_table().num_rows == written
    assert json.loads((tmp_path / "out.manifest.json").read_text())["streams"][0]["name"] == "s"


def test_a_manifest_left_inside_by_an_older_version_is_read_then_moved_beside(tmp_path, capsys):
    corpus(tmp_path, files=1)
    assert mix(tmp_path, [stream(tmp_path, **FILTERED)], "--processes", "1") == 0
    os.rename(tmp_path / "out.manifest.json", tmp_path / "out" / "manifest.json")
    assert mix(tmp_path, [stream(tmp_path, **FILTERED)], "--processes", "1") == 0
    assert "up to date" in capsys.readouterr().err
    assert mix(tmp_path, [stream(tmp_path, **FILTERED)], "--processes", "1", "--overwrite") == 0
    assert not (tmp_path / "out" / "manifest.json").exists() and (tmp_path / "out.manifest.json").exists()
