"""The reduced kill loop (benchmarks/kill_loop.py): for tag, exact dedupe, MinHash and mix on the local pool,
kill the driver or a worker at random points, rerun, and check the outputs are an uninterrupted run's byte for
byte, no file under a final name is partial, and no process of a killed run outlives its driver."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "kill_loop.py"
_spec = importlib.util.spec_from_file_location("kill_loop", _PATH)
assert _spec is not None and _spec.loader is not None
kill_loop = importlib.util.module_from_spec(_spec)
sys.modules["kill_loop"] = kill_loop  # its dataclasses look their module up there
_spec.loader.exec_module(kill_loop)


@pytest.mark.parametrize("pipeline", ["tag", "exact", "minhash", "mix"])
def test_killed_runs_rerun_to_the_uninterrupted_outputs(tmp_path, pipeline):
    figures, _ = kill_loop.loop(
        kill_loop.PIPELINES[pipeline], "local", rounds=1, shards=3, per_shard=100, seed=7, grace=10.0,
        workdir=tmp_path,
    )  # fmt: skip
    assert figures.failures == []
    assert figures.reruns == figures.reruns_identical == 1
    assert figures.runs >= 1 and figures.orphans == figures.partial_outputs == figures.leftovers == 0


def test_the_harness_sees_a_partial_file_under_a_final_name(tmp_path):
    """The check itself can fail: a truncated output under its final name is reported."""
    pipeline = kill_loop.PIPELINES["tag"]
    (tmp_path / "attributes" / "quality").mkdir(parents=True)
    (tmp_path / "attributes" / "quality" / "000.jsonl.gz").write_bytes(b"\x1f\x8b partial")
    reference = {"attributes/quality/000.jsonl.gz": "0" * 64}
    now = kill_loop.snapshot(tmp_path, pipeline)
    assert [rel for rel, digest in now.items() if rel in reference and reference[rel] != digest]
