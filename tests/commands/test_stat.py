"""`dolma stat`: per-source counts and attribute distributions, the same for any number of processes."""

from __future__ import annotations

import json

from dolma import io
from dolma.cli import main
from tests.helpers import make_docs, read_jsonl, write_docs


def test_counts_and_quantiles(tmp_path, capsys):
    for f in range(3):
        write_docs(f"{tmp_path}/documents/{f}.jsonl.gz", make_docs(300, prefix=f"{f}-", source=f"src{f % 2}"))
    docs = f"{tmp_path}/documents/*.gz"
    assert main(["tag", "--documents", docs, "--taggers", "char_length", "--experiment", "len"]) == 0
    reports = []
    for processes in ("1", "2"):
        report = f"{tmp_path}/report-{processes}.json"
        args = ["--documents", docs, "--attributes", "len", "--report", report, "--processes", processes]
        assert main(["stat", *args, "--sample_size", "100"]) == 0
        reports.append(json.loads(open(report).read()))
    assert reports[0] == reports[1]
    every = [d for f in range(3) for d in read_jsonl(f"{tmp_path}/documents/{f}.jsonl.gz")]
    assert reports[0]["sources"]["src0"]["documents"] == 600
    assert reports[0]["sources"]["src1"]["documents"] == 300
    assert sum(s["words"] for s in reports[0]["sources"].values()) == sum(len(d["text"].split()) for d in every)
    lengths = sorted(len(d["text"]) for d in every)
    attr = reports[0]["attributes"]["len__char_length__length"]
    assert attr["documents"] == attr["spans"] == 900
    assert attr["min"] == lengths[0] and attr["max"] == lengths[-1]
    assert abs(attr["mean"] - sum(lengths) / len(lengths)) < 1e-3
    assert lengths[len(lengths) // 10] <= attr["p50"] <= lengths[len(lengths) * 9 // 10]
    assert "len__char_length__length" in capsys.readouterr().out


def test_misaligned_attributes_are_an_error(tmp_path, capsys):
    write_docs(f"{tmp_path}/documents/a.jsonl", make_docs(5))
    assert main(["tag", "--documents", f"{tmp_path}/documents/a.jsonl", "--taggers", "char_length"]) == 0
    attr = f"{tmp_path}/attributes/char_length/a.jsonl"
    rows = io.read_bytes(attr).splitlines(keepends=True)
    io.write_bytes(attr, b"".join([rows[1], rows[0], *rows[2:]]))
    assert main(["stat", "--documents", f"{tmp_path}/documents/a.jsonl", "--attributes", "char_length"]) == 2
    err = capsys.readouterr().err
    assert f"{attr}:1: id 'd1' does not match" in err
