"""`dolma run pipeline.yaml`: the chain writes what the commands run one by one write, a run killed midway
finishes on the rerun with the same bytes, and every step's config is checked before the first step runs."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from dolma import config, pipeline
from dolma.cli import main
from dolma.commands.run import step_command
from dolma.pipeline import PipelineConfig
from tests.helpers import make_docs, train_tokenizer, write_docs

STEPS = {
    "tag.yaml": {
        "documents": ["corpus/documents/*.jsonl.gz"],
        "experiment": "quality",
        "taggers": ["char_length", "whitespace_tokenizer", "pii"],
    },
    "paragraphs.yaml": {
        "documents": ["corpus/documents/*.jsonl.gz"],
        "dedupe": {"name": "paragraphs", "paragraphs": {"attribute_name": "dup_paragraphs"}, "skip_empty": True},
        "bloom_filter": {"file": "work/paragraphs.bloom", "size_in_bytes": 1 << 20},
    },
    "minhash.yaml": {
        "documents": ["corpus/documents/*.jsonl.gz"],
        "dedupe": {"name": "near"},
        "minhash": {"attribute_name": "near", "threshold": 0.7, "work_dir": "work/minhash"},
    },
    "mix.yaml": {
        "streams": [
            {
                "name": "kept",
                "documents": ["corpus/documents/*.jsonl.gz"],
                "attributes": ["quality", "paragraphs", "near"],
                "filter": {
                    "exclude": [
                        "$.attributes[?(@.quality__whitespace_tokenizer__length[0][2] < 8)]",
                        "$.attributes[?(@.near_duplicate[0][2] >= 1)]",
                    ]
                },
                "span_replacement": [{"span": "$.attributes.dup_paragraphs", "min_score": 0.5, "replacement": ""}],
                "sample_rate": 0.8,
                "output": {"path": "mixed", "max_size_in_bytes": 20_000},
            }
        ]
    },
    "tokens.yaml": {
        "documents": ["mixed/*.jsonl.gz"],
        "destination": "tokens",
        "tokenizer": {"name_or_path": "tokenizer.json", "eos_token_id": 0},
        "max_size": 3_000,
    },
}
ORDER = [("tag", "tag.yaml"), ("dedupe", "paragraphs.yaml"), ("dedupe", "minhash.yaml"), ("mix", "mix.yaml"),
         ("tokens", "tokens.yaml")]  # fmt: skip
SETTINGS = {"processes": 2, "seed": 7}


def make_workdir(root: Path) -> Path:
    """A corpus of four shards (with repeated documents and paragraphs), a BPE tokenizer, the step configs
    and the pipeline file naming them."""
    docs = make_docs(240, source="web")
    docs += [dict(doc, id=f"copy-{doc['id']}") for doc in docs[:60]]  # exact copies: near duplicates
    for shard in range(4):
        write_docs(str(root / "corpus" / "documents" / f"{shard:03d}.jsonl.gz"), docs[shard::4])
    train_tokenizer(str(root / "tokenizer.json"), [doc["text"] for doc in docs])
    for name, body in STEPS.items():
        (root / name).write_text(yaml.safe_dump(body))
    steps = [{"name": file.removesuffix(".yaml"), "command": command, "config": file} for command, file in ORDER]
    (root / "pipeline.yaml").write_text(yaml.safe_dump({"settings": SETTINGS, "steps": steps}))
    return root


def outputs(root: Path) -> dict[str, str]:
    """Every data file the steps write (attributes, mix shards and manifest, token files), by content hash;
    the intermediate work folders and lock files are not outputs."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and rel.startswith(("corpus/attributes/", "mixed", "tokens/")) and ".lock" not in rel:
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@contextlib.contextmanager
def inside(path: Path):
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


@pytest.fixture(scope="module")
def piped(tmp_path_factory) -> Path:
    root = make_workdir(tmp_path_factory.mktemp("piped"))
    with inside(root):
        assert main(["run", "pipeline.yaml"]) == 0
    return root


def test_the_chain_writes_what_the_commands_write_one_by_one(piped, tmp_path):
    root = make_workdir(tmp_path)
    with inside(root):
        for command, file in ORDER:
            seed = ["--seed", "7"] if command in ("mix", "tokens") else []  # the pipeline's shared seed
            assert main([command, "-c", file, "--processes", "2", *seed]) == 0
    expected = outputs(root)
    assert any(rel.startswith("tokens/") and rel.endswith(".npy") for rel in expected)
    assert sum(rel.startswith("corpus/attributes/") and rel.endswith(".jsonl.gz") for rel in expected) == 12
    assert outputs(piped) == expected


def test_the_shared_seed_reaches_the_steps_that_have_one_and_a_step_may_override(tmp_path):
    root = make_workdir(tmp_path)
    loaded = yaml.safe_load((root / "pipeline.yaml").read_text())
    loaded["steps"][3]["config"] = dict(STEPS["mix.yaml"], seed=99, processes=1)
    with inside(root):
        steps = pipeline.plan(config.build(PipelineConfig, loaded), step_command).steps
    by_name = {step.name: step.config for step in steps}
    assert by_name["tokens"].seed == 7 and by_name["tag"].processes == 2
    assert by_name["mix"].seed == 99 and by_name["mix"].processes == 1


def test_a_rerun_skips_every_finished_step(piped, capsys):
    before = outputs(piped)
    with inside(piped):
        assert main(["run", "pipeline.yaml"]) == 0
    err = capsys.readouterr().err
    assert "dolma tag: 0 shard(s) done, 4 skipped" in err
    assert "outputs are up to date" in err and "dolma run: 5 step(s) done" in err
    assert outputs(piped) == before


@pytest.mark.parametrize("marker", ["corpus/attributes/near", "mixed.manifest.json"])
def test_a_pipeline_killed_midway_finishes_on_the_rerun_with_the_same_bytes(piped, tmp_path, marker):
    """Kill -9 the driver and its workers once ``marker`` appears (during the near-dedup step, or the tokens
    step), rerun: the outputs are those of the uninterrupted run."""
    root = make_workdir(tmp_path)
    command = [sys.executable, "-m", "dolma.cli", "run", "pipeline.yaml", "--settings.quiet", "true"]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.Popen(command, cwd=root, env=env, start_new_session=True)
    deadline = time.monotonic() + 120
    while not (root / marker).exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    killed = proc.poll() is None
    if killed:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert killed, f"the run ended before {marker} appeared"
    assert outputs(root) != outputs(piped)  # it really stopped short
    assert subprocess.run(command, cwd=root, env=env).returncode == 0
    assert outputs(root) == outputs(piped)


def test_a_bad_key_in_a_late_step_fails_before_the_first_step_runs(tmp_path, capsys):
    root = make_workdir(tmp_path)
    (root / "mix.yaml").write_text(yaml.safe_dump(dict(STEPS["mix.yaml"], sede=3)))
    with inside(root):
        assert main(["run", "pipeline.yaml"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "dolma run: error: step 4 (mix, dolma mix), mix.yaml: Object contains unknown field `sede`"
    assert not (root / "corpus" / "attributes").exists()


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"command": "tag", "config": {"documents": ["x"], "taggers": ["no_such_tagger"]}}, "no_such_tagger"),
        ({"command": "tokens", "config": {"documents": ["x"], "destination": "t"}}, "tokenizer.name_or_path"),
        ({"command": "list"}, "cannot be a step"),
        ({"command": "tag", "config": {"documents": ["${nowhere}"]}}, "${nowhere} is not a variable"),
    ],
)
def test_config_mistakes_name_the_step(tmp_path, capsys, step, message):
    root = make_workdir(tmp_path)
    loaded = yaml.safe_load((root / "pipeline.yaml").read_text())
    loaded["steps"].append({"name": "late", **step})
    (root / "pipeline.yaml").write_text(yaml.safe_dump(loaded))
    with inside(root):
        assert main(["run", "pipeline.yaml"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (root / "corpus" / "attributes").exists()


def test_vars_and_directory_take_the_paths_from_one_place(piped, tmp_path):
    """``${corpus}`` from ``vars`` (overridden on the command line), steps run inside ``directory``."""
    root = make_workdir(tmp_path / "work")
    (root / "corpus").rename(tmp_path / "elsewhere")
    for name in ("tag.yaml", "paragraphs.yaml", "minhash.yaml"):
        (root / name).write_text(yaml.safe_dump(dict(STEPS[name], documents=["${corpus}/documents/*.jsonl.gz"])))
    mix = STEPS["mix.yaml"]["streams"][0]
    (root / "mix.yaml").write_text(yaml.safe_dump({"streams": [dict(mix, documents=["${corpus}/documents/*.gz"])]}))
    loaded = yaml.safe_load((root / "pipeline.yaml").read_text())
    (root / "pipeline.yaml").write_text(yaml.safe_dump(dict(loaded, vars={"corpus": "/nonexistent"})))
    args = ["run", str(root / "pipeline.yaml"), "--directory", str(root), "--vars.corpus", str(tmp_path / "elsewhere")]
    assert main(args) == 0
    (tmp_path / "elsewhere").rename(root / "corpus")
    produced, reference = outputs(root), outputs(piped)
    assert set(produced) == set(reference)
    same = [rel for rel in reference if not rel.startswith("mixed")]  # the manifest records the documents glob
    assert {rel: produced[rel] for rel in same} == {rel: reference[rel] for rel in same}


def test_help_explains_the_file_format(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    assert "vars:" in out and "settings:" in out and "steps:" in out and "${corpus}" in out
    assert "configs/pipelines/" in out


def absolute(value, root: Path):
    """The step configs' relative paths made absolute under ``root`` (workers of a Ray started elsewhere do not
    share the pipeline's working directory)."""
    if isinstance(value, dict):
        return {key: absolute(item, root) for key, item in value.items()}
    if isinstance(value, list):
        return [absolute(item, root) for item in value]
    relative = ("corpus/", "mixed", "work/", "tokens", "tokenizer.json")
    return f"{root}/{value}" if isinstance(value, str) and value.startswith(relative) else value


def test_on_ray_the_pipeline_writes_the_local_pools_bytes(piped, tmp_path, ray_local, capsys):
    """``settings.executor: ray`` reaches every step: same attributes, mix shards and token arrays."""
    root = make_workdir(tmp_path / "ray")
    for name, body in STEPS.items():
        (root / name).write_text(yaml.safe_dump(absolute(body, root)))
    args = ["run", str(root / "pipeline.yaml"), "--directory", str(root), "--settings.executor", "ray"]
    assert main([*args, "--settings.log_format", "json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert [r["command"] for r in records] == ["dolma tag", "dolma dedupe", "dolma dedupe (minhash)", "dolma mix",
                                               "dolma tokens", "dolma run"]  # fmt: skip
    assert all(socket.gethostname() not in r["nodes"] for r in records[:-1])  # Ray names its nodes by id
    same = [rel for rel in outputs(piped) if rel.endswith((".jsonl.gz", ".npy"))]  # others record the paths
    assert len(same) > 12
    assert {rel: outputs(root)[rel] for rel in same} == {rel: outputs(piped)[rel] for rel in same}


def test_a_rerun_that_finds_the_mix_done_removes_work_files_a_kill_left(piped, capsys):
    """A run killed after the mix's manifest but before its work files were removed: the rerun skips the mix
    and removes them."""
    from dolma.mixers.config import MixConfig
    from dolma.mixers.run import plan_mix

    before = outputs(piped)
    with inside(piped):
        work = Path(plan_mix(config.load(MixConfig, "mix.yaml", ["--seed", "7"])).plans[0].work_dir)
        work.mkdir(parents=True)
        (work / "000003.done.json").write_text("{}")
        assert main(["run", "pipeline.yaml"]) == 0
    assert "outputs are up to date" in capsys.readouterr().err
    assert not (piped / "mixed" / "_mix_work").exists()
    assert outputs(piped) == before
