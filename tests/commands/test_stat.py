"""`dolma stat`: per-source counts and attribute distributions, the same for any number of processes, sampled
by a seeded hash of the id, with a self-contained HTML report."""

from __future__ import annotations

import json
import random
import re

from dolma import io
from dolma.cli import main
from dolma.hashing import unit_hash
from dolma.stats import Sketch
from tests.helpers import make_docs, read_jsonl, write_docs


def _corpus(tmp_path) -> str:
    for f in range(3):
        write_docs(f"{tmp_path}/documents/{f}.jsonl.gz", make_docs(300, prefix=f"{f}-", source=f"src{f % 2}"))
    docs = f"{tmp_path}/documents/*.gz"
    assert main(["tag", "--documents", docs, "--taggers", "char_length", "--experiment", "len"]) == 0
    return docs


def test_counts_quantiles_and_histograms(tmp_path, capsys):
    docs = _corpus(tmp_path)
    reports = []
    for processes in ("1", "2"):
        report = f"{tmp_path}/report-{processes}.json"
        args = ["--documents", docs, "--attributes", "len", "--report", report, "--processes", processes]
        assert main(["stat", *args]) == 0
        reports.append(json.loads(open(report).read()))
    assert reports[0] == reports[1]
    every = [d for f in range(3) for d in read_jsonl(f"{tmp_path}/documents/{f}.jsonl.gz")]
    assert reports[0]["sources"]["src0"]["documents"] == 600
    assert reports[0]["sources"]["src1"]["documents"] == 300
    assert sum(s["tokens"] for s in reports[0]["sources"].values()) == sum(len(d["text"].split()) for d in every)
    lengths = sorted(len(d["text"]) for d in every)
    attr = reports[0]["attributes"]["len__char_length__length"]
    assert attr["documents"] == attr["spans"] == attr["count"] == 900
    assert attr["min"] == lengths[0] and attr["max"] == lengths[-1]
    assert abs(attr["mean"] - sum(lengths) / len(lengths)) < 1e-3
    assert abs(attr["p50"] - lengths[449]) <= 0.01 * lengths[449] + 0.5
    assert sum(attr["histogram"]["counts"]) == 900
    assert len(attr["histogram"]["edges"]) == len(attr["histogram"]["counts"]) + 1
    assert "len__char_length__length" in capsys.readouterr().out


def test_sketch_quantiles_are_within_one_percent_and_merge_exactly():
    rng = random.Random(5)
    values = [rng.lognormvariate(3, 1.5) for _ in range(20_000)] + [0.0] * 500 + [-rng.random() for _ in range(300)]
    whole, parts = Sketch(), [Sketch() for _ in range(7)]
    for i, value in enumerate(values):
        whole.add(value)
        parts[i % 7].add(value)
    merged = Sketch()
    for part in reversed(parts):
        merged.merge(part)
    assert merged.summary() == whole.summary()
    ordered = sorted(values)
    for q in (0.01, 0.1, 0.5, 0.9, 0.99):
        exact = ordered[round(q * (len(ordered) - 1))]
        assert abs(whole.quantile(q) - exact) <= 0.0101 * abs(exact) + 1e-9, q
    edges, counts = whole.histogram()
    assert sum(counts) == len(values) and 10 <= len(counts) <= 60
    assert edges == sorted(edges)


def test_integer_scores_get_one_bin_per_value():
    sketch = Sketch()
    for value in [0.0] * 70 + [1.0] * 30:
        sketch.add(value)
    edges, counts = sketch.histogram()
    assert edges == [-0.5, 0.5, 1.5] and counts == [70, 30]
    assert sketch.quantile(0.5) == 0.0 and sketch.quantile(0.99) == 1.0


def test_sample_is_seeded_by_id_and_counts_stay_exact(tmp_path):
    docs = _corpus(tmp_path)
    reports = []
    for processes in ("1", "2"):
        report = f"{tmp_path}/sampled-{processes}.json"
        args = ["--documents", docs, "--attributes", "len", "--sample_rate", "0.3", "--seed", "7"]
        assert main(["stat", *args, "--report", report, "--processes", processes]) == 0
        reports.append(json.loads(open(report).read()))
    assert reports[0] == reports[1]
    data = reports[0]
    every = [d for f in range(3) for d in read_jsonl(f"{tmp_path}/documents/{f}.jsonl.gz")]
    chosen = [d for d in every if unit_hash(d["id"], 7) < 0.3]
    assert data["sample"]["documents"] == len(chosen) and 200 < len(chosen) < 340
    assert "seed 7" in data["sample"]["description"]
    assert sum(s["documents"] for s in data["sources"].values()) == 900  # never sampled
    assert data["attributes"]["len__char_length__length"]["spans"] == len(chosen)
    sampled_tokens = sum(len(d["text"].split()) for d in chosen if d["source"] == "src1")
    src1 = data["sources"]["src1"]
    assert src1["tokens"] == round(sampled_tokens * 300 / src1["sampled_documents"])


def test_html_report_is_self_contained_with_a_plot_per_distribution(tmp_path, capsys):
    docs = _corpus(tmp_path)
    page = f"{tmp_path}/report.html"
    assert main(["stat", "--documents", docs, "--attributes", "len", "--html", page]) == 0
    assert f"HTML report: {page}" in capsys.readouterr().err
    text = open(page).read()
    images = re.findall(r'<img class="plot" alt="([^"]*)" src="data:image/svg\+xml;base64,', text)
    assert sorted(images) == sorted(
        [
            "tokens per document of source src0",
            "tokens per document of source src1",
            "histogram of len__char_length__length",
        ]
    )
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text


def test_a_mix_output_directory_is_read_as_it_is(tmp_path):
    from tests.commands.test_mix import FILTERED, corpus, manifest, mix, stream

    corpus(tmp_path, files=2)
    assert mix(tmp_path, [stream(tmp_path, **FILTERED)], "--processes", "1") == 0
    (tmp_path / "out" / "_SUCCESS").write_text("a marker some tools leave\n")
    report = f"{tmp_path}/r.json"
    assert main(["stat", "--documents", str(tmp_path / "out"), "--report", report]) == 0
    written = manifest(tmp_path / "out")["streams"][0]["counts"]["written"]["documents"]
    assert json.loads(open(report).read())["sources"]["test"]["documents"] == written > 0


def test_misaligned_attributes_are_an_error(tmp_path, capsys):
    write_docs(f"{tmp_path}/documents/a.jsonl", make_docs(5))
    assert main(["tag", "--documents", f"{tmp_path}/documents/a.jsonl", "--taggers", "char_length"]) == 0
    attr = f"{tmp_path}/attributes/char_length/a.jsonl"
    rows = io.read_bytes(attr).splitlines(keepends=True)
    io.write_bytes(attr, b"".join([rows[1], rows[0], *rows[2:]]))
    assert main(["stat", "--documents", f"{tmp_path}/documents/a.jsonl", "--attributes", "char_length"]) == 2
    err = capsys.readouterr().err
    assert f"{attr}:1: id 'd1' does not match" in err


# dolma 1.2.1's `dolma stat --attributes 'attributes/exp/*.gz' --report theirs --bins 6` over the files that
# `_dolma_attribute_files` writes (recorded with /work/peers_dolma/bin/dolma, 2 December 2026): the lossy
# per-file histograms of exp__len__length, the empty rows counted as one (0, 0, 0.0) span, the fastText
# label scores above 1 clamped to 1.
DOLMA_SUMMARIES = """\
{"name":"exp__dup__spans/length","counts":[27,19,21,20,19],"bins":[0.0,1.0,2.0,3.0,4.0,4.00008],"total":106,"sum":197}
{"name":"exp__dup__spans/score","counts":[27,79],"bins":[0.0,1.0,1.00002],"total":106,"sum":79.0}
{"name":"exp__ft__en__label__en/length","counts":[80],"bins":[10.0,10.00016],"total":80,"sum":800}
{"name":"exp__ft__en__label__en/score","counts":[80],"bins":[1.0,1.00002],"total":80,"sum":80.0}
{"name":"exp__len__length/length","counts":[14,13,13,13,13,14],"bins":[3.0,87.5816,172.1632,256.7448,341.3264,425.90799999999996,510.4896],"total":80,"sum":22360}
{"name":"exp__len__length/score","counts":[14,13,13,13,13,14],"bins":[3.0,87.5816,172.1632,256.7448,341.3264,425.90799999999996,510.4896],"total":80,"sum":22360.0}
"""


def _dolma_attribute_files(root) -> str:
    for f in range(2):
        rows = []
        for i in range(40):
            n = f * 40 + i
            attributes = {
                "exp__len__length": [[0, 7 * n + 3, float(7 * n + 3)]],
                "exp__ft__en__label__en": [[0, 10, 1.0 + (n % 3) / 100]],
                "exp__dup__spans": [[j * 5, j * 5 + n % 4 + 1, 1] for j in range(n % 3)],
            }
            rows.append({"id": f"d{n}", "attributes": attributes})
        io.write_bytes(f"{root}/attributes/exp/{f}.jsonl.gz", "".join(json.dumps(r) + "\n" for r in rows).encode())
    return f"{root}/attributes/exp/*.gz"


def test_attribute_files_alone_give_dolmas_summaries(tmp_path, capsys):
    pattern = _dolma_attribute_files(tmp_path)
    for processes in ("1", "2"):
        report = f"{tmp_path}/report-{processes}"
        args = ["--attributes", pattern, "--report", report, "--bins", "6", "--processes", processes, "--total"]
        assert main(["stat", *args]) == 0
        written = io.read_bytes(f"{report}/summaries.jsonl.gz").decode().splitlines(keepends=True)
        assert "".join(sorted(written)) == DOLMA_SUMMARIES
    out = capsys.readouterr().out
    assert "exp__len__length/length" in out and out.splitlines()[0].split()[-1] == "sum"


def test_regex_keeps_only_the_names_it_finds(tmp_path):
    pattern = _dolma_attribute_files(tmp_path)
    assert main(["stat", "--attributes", pattern, "--report", f"{tmp_path}/r", "--regex", "__label__"]) == 0
    names = [json.loads(line)["name"] for line in io.read_bytes(f"{tmp_path}/r/summaries.jsonl.gz").splitlines()]
    assert sorted(names) == ["exp__ft__en__label__en/length", "exp__ft__en__label__en/score"]


def test_dolma_keys_that_need_documents_or_attribute_files_are_refused(tmp_path, capsys):
    pattern = _dolma_attribute_files(tmp_path)
    assert main(["stat", "--attributes", pattern, "--html", f"{tmp_path}/r.html"]) == 2
    assert "html: needs documents" in capsys.readouterr().err
    docs = _corpus(tmp_path)
    assert main(["stat", "--documents", docs, "--attributes", "len", "--bins", "10"]) == 2
    assert "bins, total: only without documents" in capsys.readouterr().err
