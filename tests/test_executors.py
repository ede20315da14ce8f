"""Executors: local pool and Ray run the same tasks with the same results; failures are reported."""

from __future__ import annotations

import os

import pytest

from dolma import io
from dolma.cli import main
from dolma.errors import InputError
from dolma.execution import Execution
from dolma.executors import TaskResult, make_executor
from tests.commands.test_tag import PLUGIN, corpus


def test_ray_executor_matches_local_with_a_plugin(tmp_path, ray_local):
    plugin = tmp_path / "plugin.py"
    plugin.write_text(PLUGIN)
    outputs = []
    for executor in ("local", "ray"):
        root = tmp_path / executor
        docs = corpus(root, files=3)
        assert (
            main(
                [
                    "tag",
                    "--documents",
                    docs,
                    "--taggers",
                    "char_length",
                    "vowel_count",
                    "--experiment",
                    "e",
                    "--tagger_modules",
                    str(plugin),
                    "--executor",
                    executor,
                    "--processes",
                    "2",
                ]
            )
            == 0
        )
        outputs.append([open(p, "rb").read() for p in io.glob(f"{root}/attributes/e/part/*")])
    assert len(outputs[0]) == 3 and outputs[0] == outputs[1]


def test_ray_task_error_reaches_the_user(tmp_path, ray_local, capsys):
    path = f"{tmp_path}/documents/bad.jsonl"
    io.write_bytes(path, b'{"id": "a", "text": "fine"}\n{"id": 1}\n')
    assert main(["tag", "--documents", path, "--taggers", "char_length", "--executor", "ray"]) == 2
    assert f"{path}:2:" in capsys.readouterr().err


def run_tasks(tasks, executor="local", processes=1, **settings):
    return make_executor(Execution(kind=executor, processes=processes, **settings)).run(tasks, desc="t")


class _Fails:
    label = "always-fails"

    def __init__(self, out: str) -> None:
        self.out = out

    def outputs(self) -> list[str]:
        return [self.out]

    def run(self, report) -> TaskResult:
        raise InputError(f"{self.label}: broken")


class _Writes:
    def __init__(self, out: str) -> None:
        self.out = out
        self.label = out

    def outputs(self) -> list[str]:
        return [self.out]

    def run(self, report) -> TaskResult:
        io.write_bytes(self.out, b"done\n")
        report(1, 5)
        return TaskResult(counters={"documents": 1})


class _ReportsGc(_Writes):
    def run(self, report) -> TaskResult:
        import gc

        super().run(report)
        return TaskResult(counters={"gc_threshold": gc.get_threshold()[0]})


def test_workers_collect_garbage_less_often(tmp_path, ray_local):
    """Workers raise the collector's first threshold: at Python's 700, tagging spent 7% of its CPU in it."""
    import gc

    from dolma.executors import WORKER_GC_THRESHOLD

    before = gc.get_threshold()
    for executor, processes in (("local", 1), ("local", 2), ("ray", 1)):
        tasks = [_ReportsGc(str(tmp_path / f"{executor}-{processes}-{i}")) for i in range(2)]
        summary = run_tasks(tasks, executor=executor, processes=processes)
        assert [r.counters["gc_threshold"] for r in summary.results] == [WORKER_GC_THRESHOLD] * 2, executor
    assert gc.get_threshold() == before  # a run in this process puts the caller's settings back


def test_a_failure_keeps_completed_shards_and_raises(tmp_path):
    tasks = [_Writes(str(tmp_path / "a")), _Fails(str(tmp_path / "b")), _Writes(str(tmp_path / "c"))]
    with pytest.raises(InputError, match="always-fails"):
        run_tasks(tasks, processes=2)
    assert open(tmp_path / "a").read() == "done\n"
    assert not os.path.exists(tmp_path / "b")


def test_existing_outputs_are_skipped(tmp_path):
    tasks = [_Writes(str(tmp_path / "a")), _Writes(str(tmp_path / "b"))]
    (tmp_path / "a").write_text("old\n")
    summary = run_tasks(tasks, processes=1)
    assert (summary.tasks_run, summary.tasks_skipped) == (1, 1)
    assert summary.results[0] is None and summary.results[1] is not None
    assert open(tmp_path / "a").read() == "old\n"
