"""`dolma tag` end to end: layout, alignment, plugins, resume, determinism, bad input, crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from dolma import io
from dolma.cli import main
from tests.helpers import make_docs, read_jsonl, write_docs


def tag(*args: str) -> int:
    return main(["tag", *args])


def corpus(root, files=3, per_file=200, ext=".jsonl.gz") -> str:
    for f in range(files):
        write_docs(f"{root}/documents/part/{f:03d}{ext}", make_docs(per_file, prefix=f"f{f}-"))
    return f"{root}/documents/part/*{ext}"


def test_attributes_mirror_documents_one_row_per_line_in_order(tmp_path):
    docs = corpus(tmp_path)
    assert tag("--documents", docs, "--taggers", "char_length", "whitespace_tokenizer", "--experiment", "exp") == 0
    for f in range(3):
        documents = read_jsonl(f"{tmp_path}/documents/part/{f:03d}.jsonl.gz")
        rows = read_jsonl(f"{tmp_path}/attributes/exp/part/{f:03d}.jsonl.gz")
        assert [r["id"] for r in rows] == [d["id"] for d in documents]
        for doc, row in zip(documents, rows, strict=True):
            text = doc["text"]
            assert row["attributes"]["exp__char_length__length"] == [[0, len(text), float(len(text))]]
            assert row["attributes"]["exp__whitespace_tokenizer__length"][0][2] == len(text.split())
            paragraphs = row["attributes"]["exp__whitespace_tokenizer__paragraph"]
            assert sum(p[2] for p in paragraphs) == len(text.split())
            assert row["source"] == "test"


def test_without_experiment_each_tagger_writes_its_own_attributes(tmp_path):
    docs = corpus(tmp_path, files=1)
    assert tag("--documents", docs, "--taggers", "char_length", "random_number") == 0
    lengths = read_jsonl(f"{tmp_path}/attributes/char_length/part/000.jsonl.gz")
    randoms = read_jsonl(f"{tmp_path}/attributes/random_number/part/000.jsonl.gz")
    assert set(lengths[0]["attributes"]) == {"char_length__char_length__length"}
    assert set(randoms[0]["attributes"]) == {"random_number__random_number__random"}
    assert [r["id"] for r in lengths] == [r["id"] for r in randoms]


def test_destination_mirrors_the_glob(tmp_path):
    docs = corpus(tmp_path, files=2)
    assert tag("--documents", docs, "--taggers", "char_length", "--destination", f"{tmp_path}/elsewhere") == 0
    assert io.glob(f"{tmp_path}/elsewhere/*") == [f"{tmp_path}/elsewhere/{f:03d}.jsonl.gz" for f in range(2)]


def test_parameters_come_from_the_config(tmp_path):
    docs = corpus(tmp_path, files=1)
    config = tmp_path / "tag.yaml"
    config.write_text(
        f"documents: ['{docs}']\nexperiment: r\ntaggers:\n  - random_number: {{seed: 7}}\n"
        "  - whitespace_tokenizer: {paragraphs: false}\n"
    )
    assert tag("-c", str(config)) == 0
    rows = read_jsonl(f"{tmp_path}/attributes/r/part/000.jsonl.gz")
    assert "r__whitespace_tokenizer__paragraph" not in rows[0]["attributes"]
    first = [r["attributes"]["r__random_number__random"][0][2] for r in rows]
    assert tag("-c", str(config), "--overwrite", "--taggers", "{random_number: {seed: 8}}") == 0
    second = [
        r["attributes"]["r__random_number__random"][0][2]
        for r in read_jsonl(f"{tmp_path}/attributes/r/part/000.jsonl.gz")
    ]
    assert first != second and all(0 <= x < 1 for x in first + second)


def test_unknown_parameter_is_refused(tmp_path, capsys):
    docs = corpus(tmp_path, files=1)
    assert tag("--documents", docs, "--taggers", "{random_number: {sed: 1}}") == 2
    assert "sed" in capsys.readouterr().err


def test_one_and_two_processes_give_identical_outputs(tmp_path):
    outputs = []
    for processes in ("1", "2"):
        root = tmp_path / processes
        docs = corpus(root, files=4, ext=".jsonl.zst")
        assert (
            tag(
                "--documents",
                docs,
                "--taggers",
                "char_length",
                "random_number",
                "--experiment",
                "e",
                "--processes",
                processes,
            )
            == 0
        )
        outputs.append([open(p, "rb").read() for p in io.glob(f"{root}/attributes/e/part/*")])
    assert len(outputs[0]) == 4 and outputs[0] == outputs[1]


def test_rerun_skips_existing_and_overwrite_redoes(tmp_path):
    docs = corpus(tmp_path, files=2)
    args = ["--documents", docs, "--taggers", "char_length"]
    assert tag(*args) == 0
    out = f"{tmp_path}/attributes/char_length/part/000.jsonl.gz"
    before = os.stat(out).st_mtime_ns
    time.sleep(0.01)
    assert tag(*args) == 0
    assert os.stat(out).st_mtime_ns == before
    assert tag(*args, "--overwrite") == 0
    assert os.stat(out).st_mtime_ns != before


PLUGIN = '''
from dolma import Tagger, TaggerParams, tagger

@tagger("vowel_count")
class VowelCount(Tagger):
    """Counts vowels."""

    class Params(TaggerParams):
        vowels: str = "aeiou"

    def predict(self, doc):
        n = sum(doc.text.count(v) for v in self.params.vowels)
        return {"vowels": [(0, len(doc.text), n)]}
'''


def test_plugin_from_a_py_file(tmp_path, capsys):
    plugin = tmp_path / "my_plugin.py"
    plugin.write_text(PLUGIN)
    docs = corpus(tmp_path, files=2)
    assert (
        tag(
            "--documents",
            docs,
            "--taggers",
            "{vowel_count: {vowels: a}}",
            "--tagger_modules",
            str(plugin),
            "--processes",
            "2",
        )
        == 0
    )
    rows = read_jsonl(f"{tmp_path}/attributes/vowel_count/part/001.jsonl.gz")
    documents = read_jsonl(f"{tmp_path}/documents/part/001.jsonl.gz")
    assert [r["attributes"]["vowel_count__vowel_count__vowels"][0][2] for r in rows] == [
        d["text"].count("a") for d in documents
    ]
    assert main(["list", "--tagger_modules", str(plugin)]) == 0
    listing = capsys.readouterr().out
    assert "vowel_count" in listing and "Counts vowels." in listing and "vowels='aeiou'" in listing


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"id": "x", "text": "ok"', "invalid JSON"),
        (b'{"text": "no id"}', "missing required field `id`"),
        (b'{"id": "x"}', "missing required field `text`"),
        (b'{"id": 5, "text": "x"}', "wrong type"),
        (b'{"id": "x", "text": ["a"]}', "wrong type"),
    ],
)
def test_bad_line_stops_with_file_and_line(tmp_path, capsys, line, reason):
    path = f"{tmp_path}/documents/bad.jsonl"
    good = b'{"id": "a", "text": "fine"}\n'
    io.write_bytes(path, good + b"\n" + good + line + b"\n" + good)
    assert tag("--documents", path, "--taggers", "char_length") == 2
    err = capsys.readouterr().err
    assert f"{path}:4: " in err and reason in err
    assert not os.path.exists(f"{tmp_path}/attributes/char_length/bad.jsonl")


def test_skip_bad_lines_counts_and_reports(tmp_path, capsys):
    path = f"{tmp_path}/documents/bad.jsonl"
    io.write_bytes(path, b'{"id": "a", "text": "fine"}\n{oops\n{"id": "b"}\n{"id": "c", "text": "ok"}\n')
    assert tag("--documents", path, "--taggers", "char_length", "--skip-bad-lines") == 0
    err = capsys.readouterr().err
    assert "bad_lines: 2" in err and f"{path}:2:" in err and f"{path}:3:" in err
    assert [r["id"] for r in read_jsonl(f"{tmp_path}/attributes/char_length/bad.jsonl")] == ["a", "c"]


@pytest.mark.parametrize("ext", [".jsonl.gz", ".jsonl.zst"])
def test_truncated_input_names_file_and_leaves_no_output(tmp_path, capsys, ext):
    path = write_docs(f"{tmp_path}/documents/cut{ext}", make_docs(3000))
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) * 2 // 3])
    assert tag("--documents", path, "--taggers", "char_length") == 2
    assert f"cut{ext}" in capsys.readouterr().err
    assert not os.path.exists(f"{tmp_path}/attributes") or io.glob(f"{tmp_path}/attributes") == []


def test_unknown_tagger_lists_close_matches(tmp_path, capsys):
    docs = corpus(tmp_path, files=1)
    assert tag("--documents", docs, "--taggers", "char_lenght") == 2
    assert "did you mean char_length" in capsys.readouterr().err


def test_glob_matching_nothing_is_an_error(tmp_path, capsys):
    assert tag("--documents", f"{tmp_path}/documents/*.gz", "--taggers", "char_length") == 2
    assert "matches no files" in capsys.readouterr().err


def test_unknown_config_key_is_named(tmp_path, capsys):
    docs = corpus(tmp_path, files=1)
    assert tag("--documents", docs, "--taggers", "char_length", "--procesess", "2") == 2
    assert "procesess" in capsys.readouterr().err


def test_tag_on_s3(s3_bucket):
    docs = [f"{s3_bucket}/c/documents/{i}.jsonl.zst" for i in range(2)]
    for i, path in enumerate(docs):
        write_docs(path, make_docs(50, prefix=f"s{i}-"))
    assert tag("--documents", f"{s3_bucket}/c/documents/*.zst", "--taggers", "char_length", "--processes", "2") == 0
    rows = read_jsonl(f"{s3_bucket}/c/attributes/char_length/1.jsonl.zst")
    assert [r["id"] for r in rows] == [f"s1-{i}" for i in range(50)]


COUNTING_PLUGIN = """
import json
import os
from dolma import Tagger, TaggerParams, tagger

@tagger("counts_loads")
class CountsLoads(Tagger):
    \"\"\"Records each construction, as a model-loading tagger would load its model.\"\"\"

    class Params(TaggerParams):
        log: str = ""

    def __init__(self, params):
        super().__init__(params)
        with open(params.log, "a") as f:
            f.write(f"{os.getpid()}\\n")

    def predict(self, doc):
        return {}
"""


def test_a_tagger_is_constructed_once_per_worker_not_per_shard(tmp_path):
    plugin = tmp_path / "counting.py"
    plugin.write_text(COUNTING_PLUGIN)
    log = tmp_path / "loads.log"
    docs = corpus(tmp_path, files=6, per_file=20)
    spec = f"{{counts_loads: {{log: '{log}'}}}}"
    assert tag("--documents", docs, "--taggers", spec, "--tagger_modules", str(plugin), "--processes", "2") == 0
    pids = log.read_text().split()
    assert 1 <= len(pids) <= 2 and len(set(pids)) == len(pids)


SLOW_PLUGIN = '''
import time
from dolma import Tagger, tagger

@tagger("slow_length")
class SlowLength(Tagger):
    """Length, slowly (so a test can kill a worker mid-shard)."""

    def predict(self, doc):
        time.sleep(0.002)
        return {"length": [(0, len(doc.text), len(doc.text))]}
'''


def _run_cli(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "dolma.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _worker_pids(parent: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True).stdout.split()
    return [int(pid) for pid in out]


def test_killed_worker_leaves_no_partial_output_and_rerun_matches_clean_run(tmp_path):
    plugin = tmp_path / "slow.py"
    plugin.write_text(SLOW_PLUGIN)
    clean, crashed = tmp_path / "clean", tmp_path / "crashed"
    for root in (clean, crashed):
        corpus(root, files=4, per_file=400)
    args = ["--taggers", "slow_length", "--tagger_modules", str(plugin), "--processes", "2"]
    proc = _run_cli(["tag", "--documents", f"{crashed}/documents/part/*.gz", *args])
    deadline = time.monotonic() + 60
    victims: list[int] = []
    while time.monotonic() < deadline and proc.poll() is None:
        # the spawn pool has a resource tracker child too; workers are the python children running tasks
        victims = [
            pid
            for pid in _worker_pids(proc.pid)
            if b"resource_tracker" not in open(f"/proc/{pid}/cmdline", "rb").read()
        ]
        temporary = (
            [p for p in io.list_files(str(crashed / "attributes")) if ".tmp-" in p]
            if os.path.exists(crashed / "attributes")
            else []
        )
        if len(victims) >= 2 and temporary:
            break
        time.sleep(0.05)
    assert victims, "no worker process found"
    os.kill(victims[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert b"worker process died" in err
    finals = io.glob(str(crashed / "attributes"))  # skips temporary files, the run lock and the config record
    for path in finals:  # whatever exists under a final name is complete
        assert len(read_jsonl(path)) == 400
    assert len(finals) < 4
    rerun = _run_cli(["tag", "--documents", f"{crashed}/documents/part/*.gz", *args])
    assert rerun.wait(timeout=120) == 0
    reference = _run_cli(["tag", "--documents", f"{clean}/documents/part/*.gz", *args])
    assert reference.wait(timeout=120) == 0
    for f in range(4):
        rel = f"attributes/slow_length/part/{f:03d}.jsonl.gz"
        assert open(crashed / rel, "rb").read() == open(clean / rel, "rb").read()


def test_exact_scores_are_written_as_given_and_others_rounded(tmp_path):
    plugin = tmp_path / "scores.py"
    plugin.write_text(
        "from dolma import Tagger, tagger\n"
        "@tagger('given')\n"
        "class Given(Tagger):\n"
        "    exact_scores = True\n"
        "    def predict(self, doc):\n"
        "        return {'v': [(0, 1, 0.123456)]}\n"  # trusted as given: not rounded, to show it
        "@tagger('rounded')\n"
        "class Rounded(Tagger):\n"
        "    def predict(self, doc):\n"
        "        return {'v': [(0, 1, 1 / 3)], 'n': [(0, 1, 2)]}\n"
    )
    write_docs(f"{tmp_path}/documents/a.jsonl", make_docs(3))
    config = {
        "documents": [f"{tmp_path}/documents/a.jsonl"],
        "experiment": "e",
        "processes": 1,
        "taggers": ["given", "rounded"],
        "tagger_modules": [str(plugin)],
    }
    (tmp_path / "tag.json").write_text(json.dumps(config))
    assert main(["tag", "-c", str(tmp_path / "tag.json")]) == 0
    lines = io.read_bytes(f"{tmp_path}/attributes/e/a.jsonl").splitlines()
    assert b'"e__given__v":[[0,1,0.123456]],"e__rounded__v":[[0,1,0.33333]],"e__rounded__n":[[0,1,2.0]]' in lines[0]


FAILING_PLUGIN = '''
from dolma import Document, Tagger, tagger


@tagger("picky")
class Picky(Tagger):
    """Fails on one document."""

    def predict(self, doc: Document):
        if doc.id == "f1-37":
            raise ValueError("cannot score this one")
        return {"ok": [(0, len(doc.text), 1.0)]}
'''


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_failing_plugin_names_the_shard_line_and_document(tmp_path, capsys, processes):
    plugin = tmp_path / "picky.py"
    plugin.write_text(FAILING_PLUGIN)
    docs = corpus(tmp_path, files=2)
    args = ["--documents", docs, "--taggers", "picky", "--tagger_modules", str(plugin), "--processes", processes]
    assert tag(*args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        f"dolma tag: error: {tmp_path}/documents/part/001.jsonl.gz:38: document 'f1-37': tagger 'picky' failed: "
        f"ValueError: cannot score this one (raised at {plugin}:11 in predict)"
    )
    assert "Traceback" not in "\n".join(err)
    assert not os.path.exists(f"{tmp_path}/attributes/picky/part/001.jsonl.gz")


def test_the_same_tagger_runs_twice_under_two_names(tmp_path, capsys):
    docs = corpus(tmp_path, files=1, per_file=50)
    config = tmp_path / "tag.yaml"
    config.write_text(
        f"documents: [{docs}]\n"
        "experiment: twice\n"
        "taggers:\n"
        "  - {name: rand_a, tagger: random_number, params: {seed: 1}}\n"
        "  - {name: rand_b, tagger: random_number, params: {seed: 2}}\n"
        "  - char_length\n"
    )
    assert main(["tag", "-c", str(config)]) == 0
    rows = read_jsonl(f"{tmp_path}/attributes/twice/part/000.jsonl.gz")
    from dolma.hashing import unit_hash

    for row in rows:
        attrs = row["attributes"]
        assert set(attrs) == {"twice__rand_a__random", "twice__rand_b__random", "twice__char_length__length"}
        assert attrs["twice__rand_a__random"][0][2] == round(unit_hash(row["id"], 1), 5)
        assert attrs["twice__rand_b__random"][0][2] == round(unit_hash(row["id"], 2), 5)
    config.write_text(f"documents: [{docs}]\ntaggers: [random_number, {{random_number: {{seed: 3}}}}]\n")
    assert main(["tag", "-c", str(config)]) == 2
    assert "{name: a, tagger: random_number, params: {...}}" in capsys.readouterr().err


def test_quiet_prints_nothing_and_json_prints_one_record(tmp_path, capsys):
    docs = corpus(tmp_path, files=2)
    assert tag("--documents", docs, "--taggers", "char_length", "--quiet") == 0
    assert capsys.readouterr().err == ""
    args = ("--documents", docs, "--taggers", "char_length", "--overwrite", "--log-format", "json")
    assert tag(*args) == 0
    record = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert record["command"] == "dolma tag" and record["counters"]["documents"] == 400
    assert [(s["stage"], s["tasks_run"]) for s in record["stages"]] == [("tag", 2)]
