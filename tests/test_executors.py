"""Executors: local pool and Ray run the same tasks with the same results; failures are reported."""

from __future__ import annotations

import os

import pytest

from dolma import io
from dolma.cli import main
from dolma.errors import InputError
from dolma.execution import Execution
from dolma.executors import TaskResult, make_executor
from dolma.reaper import descendants, marked, start_time
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


class _Pid(_Writes):
    def run(self, report) -> TaskResult:
        super().run(report)
        return TaskResult(counters={f"pid {os.getpid()}": 1})


def test_pool_workers_serve_every_stage_and_stop_on_close(tmp_path):
    """A multi-stage pipeline starts its workers once (each start costs an interpreter and the imports),
    and closing the executor leaves no worker behind."""
    with make_executor(Execution(kind="local", processes=2)) as executor:
        first = executor.run([_Pid(str(tmp_path / f"a{i}")) for i in range(6)], desc="one")
        second = executor.run([_Pid(str(tmp_path / f"b{i}")) for i in range(6)], desc="two")
        pids = {int(key.split()[1]) for key in first.counters}
        assert len(pids) == 2 and os.getpid() not in pids
        assert {int(key.split()[1]) for key in second.counters} == pids
    assert not any(start_time(pid) for pid in pids)


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


class _Dies(_Writes):
    """Kills its own worker process, as the kernel's out-of-memory killer would."""

    def run(self, report) -> TaskResult:
        os.kill(os.getpid(), 9)
        return TaskResult()


def test_a_worker_that_dies_is_reported_with_the_shard_it_was_running(tmp_path):
    from dolma.errors import DolmaError

    tasks = [_Writes(str(tmp_path / "a")), _Dies(str(tmp_path / "dies")), _Writes(str(tmp_path / "c"))]
    with pytest.raises(DolmaError, match=r"killed by signal 9.* while running .*dies;"):
        run_tasks(tasks, processes=2)


class _Records(_Writes):
    def run(self, report) -> TaskResult:
        import time

        time.sleep(0.2)
        return super().run(report)


def test_the_first_failure_starts_no_more_tasks(tmp_path):
    tasks = [_Fails(str(tmp_path / "f"))] + [_Records(str(tmp_path / f"r{i}")) for i in range(12)]
    with pytest.raises(InputError, match="always-fails"):
        run_tasks(tasks, processes=2)
    assert sum(os.path.exists(tmp_path / f"r{i}") for i in range(12)) <= 2


class _Buggy(_Writes):
    def run(self, report) -> TaskResult:
        return {}["missing"]  # type: ignore[return-value]


def test_a_bug_in_a_task_names_the_shard_and_keeps_the_worker_traceback(tmp_path, capsys):
    from dolma.executors import TaskFailed

    with pytest.raises(TaskFailed) as failure:
        run_tasks([_Buggy(str(tmp_path / "shard-7")), _Writes(str(tmp_path / "b"))], processes=2)
    assert "shard-7: KeyError: 'missing' (on " in str(failure.value)
    assert 'return {}["missing"]' in failure.value.worker_traceback


SLEEPERS = """
import os, time
from dolma.executors import TaskResult


class Sleeps:
    def __init__(self, i, pids):
        self.label = f"sleeps-{i}"
        self.pids = pids

    def outputs(self):
        return []

    def run(self, report):
        open(os.path.join(self.pids, str(os.getpid())), "w").close()
        time.sleep(120)
        return TaskResult()
"""

DRIVER = """
import sys
sys.path[:0] = [{root!r}, {here!r}]
from dolma.execution import Execution
from dolma.executors import make_executor
from sleepers import Sleeps

make_executor(Execution(kind={kind!r}, processes=2)).run([Sleeps(i, {pids!r}) for i in range(4)], desc="t")
"""


@pytest.mark.parametrize("kind", ["local", "ray"])
def test_workers_die_with_a_killed_driver(tmp_path, kind):
    """kill -9 of the driver: its pool workers notice within a second and exit instead of running on; on
    Ray, every process of the private Ray it started goes too (Ray's own agents took 20-30 s). A process
    counts by its environment mark or as a descendant of the driver: Ray's agents rename themselves in a way
    that can wipe their environment, so the mark alone could miss them."""
    import signal
    import subprocess
    import sys
    import time
    import uuid

    pids = tmp_path / "pids"
    pids.mkdir()
    (tmp_path / "sleepers.py").write_text(SLEEPERS)
    script = DRIVER.format(root=os.getcwd(), here=str(tmp_path), pids=str(pids), kind=kind)
    mark = uuid.uuid4().hex
    env = {**os.environ, "DOLMA_TEST_MARK": mark, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.getcwd()])}
    driver = subprocess.Popen([sys.executable, "-c", script], env=env)  # Ray workers find the tasks' module
    deadline = time.monotonic() + 120
    while len(os.listdir(pids)) < 2:
        assert time.monotonic() < deadline and driver.poll() is None
        time.sleep(0.1)
    time.sleep(0.5)  # Ray: the agents' renaming is under way by now
    started = {pid: start_time(pid) for pid in marked(mark, "DOLMA_TEST_MARK")} | descendants([driver.pid])
    names = _names(list(started))
    assert len(started) >= 3, names  # the driver's workers (and on Ray, its GCS, raylet and agents)
    if kind == "ray":
        assert any("DashboardAgent" in name for name in names), names
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    deadline = time.monotonic() + 5  # the reaper kills all at its first scan; Ray's agents alone took 2-30 s
    tracked = {p for p, t in started.items() if t}
    while alive := sorted(set(marked(mark, "DOLMA_TEST_MARK")) | {p for p in tracked if start_time(p) == started[p]}):
        assert time.monotonic() < deadline, f"{len(alive)} process(es) outlived their driver: {_names(alive)}"
        time.sleep(0.1)


def _names(pids: list[int]) -> list[str]:
    names = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                names.append(fh.read().replace(b"\0", b" ").decode(errors="replace").strip()[:100])
        except OSError:
            names.append(f"{pid} (gone)")
    return names


class _Env:
    label = "env"

    def outputs(self) -> list[str]:
        return []

    def run(self, report) -> TaskResult:
        return TaskResult(payload={k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL", "DOLMA_TEST_PASSED")})


def test_ray_workers_get_the_drivers_aws_and_named_variables(ray_local, monkeypatch):
    """Workers inherit their node's environment, not the driver's: the AWS variables (and those named by
    ray_env) must travel with the task, or S3 calls fail or go to real AWS."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("DOLMA_TEST_PASSED", "yes")
    summary = run_tasks([_Env()], executor="ray", ray_env=("DOLMA_TEST_PASSED",))
    assert summary.results[0].payload == {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "DOLMA_TEST_PASSED": "yes"}


def test_an_unreachable_ray_address_fails_fast_with_one_line(tmp_path):
    import subprocess
    import sys
    import time

    from tests.conftest import _free_port

    path = f"{tmp_path}/documents/a.jsonl"
    io.write_bytes(path, b'{"id": "a", "text": "x"}\n')
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "dolma.cli", "tag", "--documents", path, "--taggers", "char_length"]
        + ["--executor", "ray", "--ray-address", f"127.0.0.1:{_free_port()}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and time.monotonic() - started < 60
    assert done.stderr.count("\n") == 1 and "nothing answers at 127.0.0.1:" in done.stderr


def test_the_private_ray_listens_on_loopback_only(ray_local):
    import psutil
    import ray

    nodes = ray.nodes()
    assert {node["NodeManagerAddress"] for node in nodes} == {"127.0.0.1"}
    ours = psutil.Process().children(recursive=True)
    listening = [c for p in ours for c in _connections(p) if c.status == psutil.CONN_LISTEN]
    assert listening and all(c.laddr.ip in ("127.0.0.1", "::ffff:127.0.0.1", "::1") for c in listening), listening


def _connections(process):
    import psutil

    try:
        return process.net_connections(kind="inet")
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


def test_a_private_ray_that_does_not_start_is_one_line(monkeypatch):
    """Ray raises a bare Exception with a paragraph (and the driver printed its traceback) when the node
    times out starting, as it does on a loaded machine."""
    import ray

    from dolma.errors import DolmaError
    from dolma.executors import ensure_ray

    def refuse(**_settings):
        raise Exception("The current node timed out during startup. This could happen because some of\nthe Ray")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", refuse)
    monkeypatch.setattr(ray, "shutdown", lambda: None)
    with pytest.raises(DolmaError) as failure:
        ensure_ray(None, 1)
    message = str(failure.value)
    assert "\n" not in message
    assert "private local Ray did not start (The current node timed out during startup." in message
