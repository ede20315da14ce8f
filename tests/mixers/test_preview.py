"""The mix preview goes through the mixer's own rules: on the whole corpus (rate 1) its per-rule counts are
the manifest's; on a sample it states the sample and warns about rules that drop everything."""

from __future__ import annotations

import json

import yaml

from dolma.cli import main
from tests.commands.test_mix import FILTERED, corpus, manifest, mix, stream


def test_a_full_preview_counts_what_the_mix_drops_rule_by_rule(tmp_path, capsys):
    corpus(tmp_path, files=3)
    config = stream(tmp_path, sample_rate=0.7, output={"min_text_length": 120}, **FILTERED)
    path = tmp_path / "mix.yaml"
    path.write_text(yaml.safe_dump({"streams": [config], "seed": 3}))
    page = tmp_path / "preview.html"
    capsys.readouterr()
    args = ["mix", "-c", str(path), "--preview", "--preview_sample_rate", "1", "--html", str(page)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert not (tmp_path / "out").exists()  # a preview writes no output
    assert main(["stat", "--documents", f"{tmp_path}/documents/part/*.gz", "--mix", str(path), "--report",
                 str(tmp_path / "stat.json")]) == 0  # fmt: skip
    preview = json.loads((tmp_path / "stat.json").read_text())["preview"]
    assert mix(tmp_path, [config], "--processes", "1", seed=3) == 0
    counts = manifest(tmp_path / "out")["streams"][0]["counts"]
    (s,) = preview["streams"]
    by_rule = {row["rule"]: row for row in s["rules"]}
    for rule in ("filter.include", "filter.exclude[0]", "output.min_text_length"):
        assert by_rule[rule]["dropped_documents"] == counts["dropped"][rule]["documents"], rule
        assert f"{rule:<28} drops" in printed
    survivors = counts["kept"]["documents"] + counts["dropped"]["sample"]["documents"]
    assert abs(s["expected"]["documents"] - 0.7 * survivors) < 1
    assert by_rule["span_replacement[0]"]["edited_documents"] > 0
    assert "Mix preview" in page.read_text() and 'alt="rules of stream s"' in page.read_text()


def test_a_rule_dropping_every_sampled_document_is_a_warning(tmp_path, capsys):
    corpus(tmp_path, files=2)
    config = stream(tmp_path, filter={"exclude": ["$.attributes[?(@.exp__len[0][2] >= 0)]"]})
    path = tmp_path / "mix.yaml"
    path.write_text(yaml.safe_dump({"streams": [config]}))
    assert main(["mix", "-c", str(path), "--preview", "--preview_sample_rate", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "estimated on a 0.5 sample (seeded id hash, seed 0)" in out
    assert "WARNING: s: filter.exclude[0] drops every sampled document that reaches it" in out
    assert "WARNING: s: keeps no sampled document" in out
