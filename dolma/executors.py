"""The execution seam: one task contract, one ``Executor`` class per engine (a local process pool, Ray).

The contract is small on purpose (see :class:`Task`): a task names its outputs, and ``run`` writes them
atomically and returns counters. An executor skips tasks whose outputs all exist (unless ``overwrite``),
runs the rest, sums the counters, and never lets timing or worker count change what a task writes. Another
engine is one more subclass of :class:`Executor`.

What every executor guarantees:
- the driver's own cost is linear in the number of tasks (a bounded window of tasks in flight);
- the first failure stops queued tasks from starting; the error names the shard, the node, and (with
  ``--debug``) carries the worker's traceback; a worker that dies is reported with the shard it was running;
- workers die with their driver (a watchdog in every pool worker), so a killed run leaves nobody writing.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
import weakref
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_ready
from typing import Any, Protocol

from dolma import io
from dolma.errors import DolmaError
from dolma.execution import Execution, default_processes

Report = Callable[[int, int], None]
"""``report(documents, bytes)``: a task's progress since its previous report."""

S3_CHECK_THREADS = 32
"""Existence checks of S3 outputs run this many HEAD requests at a time while planning."""


class ProgressCounter:
    """Accumulates a task's progress and passes it to ``report`` every ``every`` documents, so reporting
    (a pipe send in a pool worker) stays off the per-document path."""

    def __init__(self, report: Report, every: int = 5_000) -> None:
        self.report = report
        self.every = every
        self.docs = 0
        self.bytes = 0

    def add(self, nbytes: int) -> None:
        self.docs += 1
        self.bytes += nbytes
        if self.docs >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.docs or self.bytes:
            self.report(self.docs, self.bytes)
            self.docs = self.bytes = 0


class BadLineLog(Protocol):
    count: int
    examples: list[str]


@dataclass
class TaskResult:
    counters: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    """Short remarks for the summary, e.g. locations of skipped bad lines."""
    payload: Any = None
    """Anything else the pipeline merges afterwards (e.g. statistics); must be picklable and small."""

    @classmethod
    def shard(cls, documents: int, nbytes: int, bad: BadLineLog | None = None, **extra: int) -> TaskResult:
        """The usual counters of a task that read one shard: files, documents, bytes, and bad lines skipped
        (with where they were, for the summary)."""
        counters = {"files": 1, "documents": documents, "bytes": nbytes, **extra}
        notes: list[str] = []
        if bad is not None and bad.count:
            counters["bad_lines"] = bad.count
            notes = list(bad.examples)
        return cls(counters=counters, notes=notes)


class Task(Protocol):
    @property
    def label(self) -> str: ...

    def outputs(self) -> list[str]: ...

    def run(self, report: Report) -> TaskResult: ...


@dataclass
class RunSummary:
    counters: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    tasks_run: int = 0
    tasks_skipped: int = 0
    seconds: float = 0.0
    results: list[TaskResult | None] = field(default_factory=list)
    """Per task, in the order given; ``None`` for a task skipped because its outputs existed."""
    nodes: Counter[str] = field(default_factory=Counter)
    """Tasks run per node (a host name locally, a Ray node id on a cluster)."""
    combine: Callable[[TaskResult], None] | None = None
    """Takes each result instead of ``results`` (see :meth:`Executor.run`)."""

    def add(self, other: RunSummary) -> None:
        """Fold another stage's summary into this one (counters, notes, task and node counts, time)."""
        self.counters.update(other.counters)
        self.notes.extend(other.notes)
        self.tasks_run += other.tasks_run
        self.tasks_skipped += other.tasks_skipped
        self.seconds += other.seconds
        self.nodes.update(other.nodes)


class TaskFailed(DolmaError):
    """A task raised something other than a user-facing error: names the shard and where it ran; the
    worker's traceback is kept for ``--debug``."""

    def __init__(self, message: str, worker_traceback: str = "") -> None:
        super().__init__(message)
        self.worker_traceback = worker_traceback


def pending(tasks: Sequence[Task], overwrite: bool) -> list[int]:
    """Indices of tasks to run: all with ``overwrite``, else those missing any output (a task without
    outputs, such as a statistics pass, always runs). S3 outputs are checked many at a time."""
    if overwrite:
        return list(range(len(tasks)))
    outputs = [task.outputs() for task in tasks]
    paths = [path for outs in outputs for path in outs]
    if any(io.is_s3(path) for path in paths) and len(paths) > 1:
        with ThreadPoolExecutor(S3_CHECK_THREADS) as pool:
            found = dict(zip(paths, pool.map(io.exists, paths), strict=True))
    else:
        found = {path: io.exists(path) for path in paths}
    return [i for i, outs in enumerate(outputs) if not outs or not all(found[path] for path in outs)]


class _Progress:
    """A tqdm bar over tasks with an ETA, and documents and MB/s in its postfix; silent when not asked."""

    def __init__(self, desc: str, total: int, enabled: bool) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=desc, unit="file", disable=not enabled, file=sys.stderr, leave=True)
        self.docs = 0
        self.nbytes = 0
        self.started = time.monotonic()
        self.lock = threading.Lock()

    def add(self, docs: int, nbytes: int) -> None:
        with self.lock:
            self.docs += docs
            self.nbytes += nbytes
            elapsed = max(time.monotonic() - self.started, 1e-9)
            self.bar.set_postfix_str(f"{self.docs:,} docs, {self.nbytes / 1e6 / elapsed:,.1f} MB/s", refresh=False)
            self.bar.refresh()

    def file_done(self) -> None:
        with self.lock:
            self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


@dataclass(frozen=True)
class StageRecord:
    """One ``Executor.run`` call: a stage of a pipeline, for the summary and the JSON log."""

    stage: str
    tasks_run: int
    tasks_skipped: int
    seconds: float
    nodes: dict[str, int]


class Executor:
    """Runs tasks; subclasses provide the engine (:meth:`_execute`) and its size (:attr:`workers`)."""

    def __init__(self, execution: Execution) -> None:
        self.execution = execution
        self.history: list[StageRecord] = []
        """Every stage this executor ran, in order."""

    @property
    def workers(self) -> int:
        """CPUs the engine runs tasks on: plan task counts from this, never from the driver's cores."""
        raise NotImplementedError

    @property
    def task_memory(self) -> int:
        """Bytes one task may hold (the ``task_memory_mb`` setting)."""
        return self.execution.task_memory

    def run(
        self,
        tasks: Sequence[Task],
        desc: str,
        overwrite: bool | None = None,
        combine: Callable[[TaskResult], None] | None = None,
    ) -> RunSummary:
        """Run the tasks not yet done; on the first failure, start no more, let running ones finish, and
        raise. Shards completed before a failure stay valid, so a rerun resumes where this one stopped.

        With ``combine``, each result is handed to it as it arrives and not kept (``results`` stays all
        None): a reduction over many tasks (histograms, say) then holds one running total, not one payload
        per task. ``combine`` must not depend on arrival order (a sum does not)."""
        redo = self.execution.overwrite if overwrite is None else overwrite
        todo = pending(tasks, redo)
        summary = RunSummary(tasks_skipped=len(tasks) - len(todo), results=[None] * len(tasks), combine=combine)
        show = self.execution.progress
        bar = _Progress(desc, len(todo), sys.stderr.isatty() if show is None else show)
        started = time.monotonic()
        try:
            if todo:
                self._execute(tasks, todo, summary, bar)
        finally:
            bar.close()
            summary.seconds = time.monotonic() - started
        self.history.append(
            StageRecord(desc, summary.tasks_run, summary.tasks_skipped, summary.seconds, dict(summary.nodes))
        )
        return summary

    def _execute(self, tasks: Sequence[Task], todo: list[int], summary: RunSummary, bar: _Progress) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release the engine (a private Ray is stopped with the process, not here)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_executor(execution: Execution) -> Executor:
    if execution.kind == "ray":
        return RayExecutor(execution)
    return LocalExecutor(execution)


def _collect(summary: RunSummary, index: int, result: TaskResult, node: str) -> None:
    if summary.combine is not None:
        summary.combine(result)
    else:
        summary.results[index] = result
    summary.tasks_run += 1
    summary.counters.update(result.counters)
    summary.notes.extend(result.notes)
    summary.nodes[node] += 1


def _failure(label: str, exc: BaseException, worker_traceback: str, node: str) -> DolmaError:
    """A user's error (bad input, config) keeps its own one-line message, which already names the file; any
    other exception is a bug or a plugin's failure: name the shard and the node."""
    if isinstance(exc, DolmaError):
        if worker_traceback:
            exc.worker_traceback = worker_traceback  # type: ignore[attr-defined]
        return exc
    return TaskFailed(f"{label}: {type(exc).__name__}: {exc} (on {node})", worker_traceback)


# --------------------------------------------------------------------------------------------- local pool

WORKER_GC_THRESHOLD = 100_000
"""The cyclic garbage collector's first-generation threshold in workers (Python's default: 700). Tasks allocate
millions of short-lived objects (word lists, counts, spans) that form no cycles and are freed batch by batch;
at the default the collector scans them about a thousand times a shard, 7% of the CPU time of the tagging
benchmark. Raised, it still runs whenever 100,000 more objects have been allocated than freed, so reference
cycles a plugin leaks are still collected."""

WATCHDOG_SECONDS = 0.5


def _tune_gc() -> tuple[int, ...]:
    """Raise the threshold (see ``WORKER_GC_THRESHOLD``); returns the previous thresholds."""
    previous = gc.get_threshold()
    gc.set_threshold(WORKER_GC_THRESHOLD, *previous[1:])
    return previous


def _watch_parent(parent: int) -> None:
    """End this worker as soon as its driver is gone (killed with -9 too): orphans would keep writing outputs
    that a rerun started meanwhile also writes."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCHDOG_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="dolma-watchdog", daemon=True).start()


def _picklable(exc: BaseException) -> BaseException:
    try:
        pickle.dumps(exc)
        return exc
    except Exception:  # noqa: BLE001 - any exception a plugin defines may refuse pickling
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _worker_main(conn: Connection, parent: int) -> None:
    """A pool worker: run the tasks the driver sends, one at a time, and send back progress and results."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the driver decides
    _watch_parent(parent)
    _tune_gc()
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            message = pickle.loads(data)
        except Exception as exc:  # noqa: BLE001 - e.g. a task class this worker cannot import
            conn.send(("error", None, _picklable(exc), traceback.format_exc()))
            continue
        if message is None:
            return
        index, task = message
        try:
            result = task.run(lambda docs, nbytes: conn.send(("progress", docs, nbytes)))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the driver
            conn.send(("error", index, _picklable(exc), traceback.format_exc()))
        else:
            conn.send(("done", index, result))


@dataclass
class _Worker:
    process: Any
    conn: Connection
    running: int | None = None


class LocalExecutor(Executor):
    """A process pool on this machine (spawned workers, so plugins and models load cleanly in each).

    The workers live as long as the executor, not one stage: a pipeline of several stages (exact dedupe
    runs three, MinHash five) pays the start-up of each worker (an interpreter, numpy, the package) once.
    ``close()`` (or the end of a ``with`` block, or the executor being dropped) stops them."""

    def __init__(self, execution: Execution) -> None:
        super().__init__(execution)
        self._pool = _Pool(socket.gethostname())
        weakref.finalize(self, self._pool.stop)
        cores = default_processes()
        asked = execution.processes or cores
        self._workers = min(asked, cores)
        if asked > cores and not execution.quiet:
            print(
                f"processes: {asked} asked, this machine has {cores} core(s): running {cores} worker "
                "process(es) (more would only share the cores; outputs do not depend on the count)",
                file=sys.stderr,
            )

    @property
    def workers(self) -> int:
        """The ``processes`` setting, at most the cores this process may use: AI2's production configs ask
        for 188 processes, which on a laptop would start 188 interpreters fighting over a few cores."""
        return self._workers

    def _execute(self, tasks: Sequence[Task], todo: list[int], summary: RunSummary, bar: _Progress) -> None:
        if self.workers <= 1 or len(todo) <= 1:
            self._in_process(tasks, todo, summary, bar, self._pool.node)
        else:
            self._pool.run(min(self.workers, len(todo)), tasks, deque(todo), summary, bar)

    def close(self) -> None:
        self._pool.stop()

    @staticmethod
    def _in_process(tasks: Sequence[Task], todo: list[int], summary: RunSummary, bar: _Progress, node: str) -> None:
        """One worker: run here (no process start-up); the caller's collector settings come back after."""
        previous = _tune_gc()
        try:
            for index in todo:
                try:
                    result = tasks[index].run(bar.add)
                except DolmaError:
                    raise
                except Exception as exc:
                    raise _failure(tasks[index].label, exc, traceback.format_exc(), node) from exc
                _collect(summary, index, result, node)
                bar.file_done()
        finally:
            gc.set_threshold(*previous)


class _Pool:
    """Workers fed one task at a time over their own pipe, so the driver always knows which shard each one
    runs: a worker that dies is reported with that shard, and waiting costs O(workers) per event. Workers
    are started when a stage first needs them and kept for the next stage."""

    def __init__(self, node: str) -> None:
        self.node = node
        self.workers: list[_Worker] = []
        self.tasks: Sequence[Task] = ()
        self.summary = RunSummary()
        self.bar: _Progress | None = None
        self.failure: DolmaError | None = None

    def _grow(self, size: int) -> None:
        context = multiprocessing.get_context("spawn")
        while len(self.workers) < size:
            ours, theirs = context.Pipe()
            process = context.Process(target=_worker_main, args=(theirs, os.getpid()), daemon=True)
            process.start()
            theirs.close()
            self.workers.append(_Worker(process, ours))

    def run(self, size: int, tasks: Sequence[Task], queue: deque[int], summary: RunSummary, bar: _Progress) -> None:
        """One stage on ``size`` workers (more are started if the pool is smaller; extra ones idle)."""
        self.tasks, self.summary, self.bar, self.failure = tasks, summary, bar, None
        try:
            self._grow(size)
            for worker in self.workers[:size]:
                self._feed(worker, queue)
            while busy := [w for w in self.workers if w.running is not None]:
                ready = set(wait_ready([w.conn for w in busy] + [w.process.sentinel for w in busy]))
                for worker in busy:
                    if worker.conn in ready or worker.process.sentinel in ready:
                        self._serve(worker, queue)
        except BaseException:
            self.kill()  # interrupted (Ctrl-C, SIGTERM): nobody keeps writing behind the driver's back
            raise
        finally:
            self.tasks, self.bar = (), None
        if self.failure is not None:
            raise self.failure

    def _feed(self, worker: _Worker, queue: deque[int]) -> None:
        worker.running = None
        if queue and self.failure is None:
            index = queue.popleft()
            worker.conn.send((index, self.tasks[index]))
            worker.running = index

    def _serve(self, worker: _Worker, queue: deque[int]) -> None:
        """Read every message the worker has sent; a closed pipe means it died."""
        index = worker.running
        assert index is not None and self.bar is not None
        while True:
            try:
                if not worker.conn.poll():
                    if worker.process.is_alive():
                        return
                    raise EOFError
                message = worker.conn.recv()
            except (EOFError, OSError):
                worker.process.join(1)
                code = worker.process.exitcode
                cause = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                self.failure = self.failure or DolmaError(
                    f"a worker process died ({cause}; out of memory?) while running {self.tasks[index].label}; "
                    "completed shards are kept and a rerun resumes from them"
                )
                worker.running = None
                self.workers.remove(worker)
                return
            kind = message[0]
            if kind == "progress":
                self.bar.add(message[1], message[2])
                continue
            if kind == "done":
                _collect(self.summary, index, message[2], self.node)
                self.bar.file_done()
            else:
                self.failure = self.failure or _failure(self.tasks[index].label, message[2], message[3], self.node)
            self._feed(worker, queue)
            return

    def stop(self) -> None:
        """Ask every idle worker to exit, then make sure they did."""
        for worker in self.workers:
            try:
                worker.conn.send(None)
            except OSError:
                pass
        for worker in self.workers:
            worker.process.join(5)
            if worker.process.is_alive():
                worker.process.kill()
        self.workers.clear()

    def kill(self) -> None:
        for worker in self.workers:
            if worker.process.is_alive():
                worker.process.kill()
        for worker in self.workers:
            worker.process.join(5)
        self.workers.clear()


# ------------------------------------------------------------------------------------------------- ray

AWS_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_PROFILE",
    "AWS_CA_BUNDLE",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
)
"""Passed from the driver to every Ray worker when set: workers inherit the environment of the node that
started them, not the driver's, so without this a worker fails with NoCredentialsError, or silently talks
to real AWS instead of the endpoint the user set."""

CONNECT_TIMEOUT = 10.0
WINDOW_PER_CPU = 2
MIN_WINDOW = 16


def worker_env(extra: Sequence[str] = ()) -> dict[str, str]:
    """The driver's variables that Ray workers need: the AWS ones that are set, and those named by ray_env."""
    names = list(AWS_VARIABLES) + [name for name in extra if name not in AWS_VARIABLES]
    return {name: os.environ[name] for name in names if name in os.environ}


def _ray_target(address: str) -> tuple[str, int]:
    """``HOST:PORT`` of the cluster to join; ``auto`` is the one ``ray start`` on this machine recorded."""
    if address == "auto":
        address = os.environ.get("RAY_ADDRESS", "")
        if not address:
            try:
                with open(os.path.join(os.environ.get("RAY_TMPDIR", "/tmp"), "ray", "ray_current_cluster")) as fh:
                    address = fh.read().strip()
            except OSError:
                raise DolmaError(
                    "--ray-address auto: no Ray cluster is running on this machine (start one with `ray start "
                    "--head`, or give HOST:PORT of the head node)"
                ) from None
    address = address.removeprefix("ray://")
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise DolmaError(f"--ray-address {address!r}: expected auto or HOST:PORT of the head node's GCS")
    return host, int(port)


def ensure_ray(address: str | None, num_cpus: int | None) -> None:
    """Join the cluster at ``address`` (failing in seconds with one line when nothing answers there), or
    start a private local Ray bound to 127.0.0.1 only, with no token file written to the user's home."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if not address:  # read by Ray when it is imported: set first
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray

    if ray.is_initialized():
        return
    if address:
        host, port = _ray_target(address)
        try:
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
        except OSError as exc:
            raise DolmaError(
                f"--ray-address {address}: nothing answers at {host}:{port} ({exc.strerror or exc}); is the head "
                "node up and is that its GCS port (6379 by default)?"
            ) from None
        try:
            ray.init(address=f"{host}:{port}", log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise DolmaError(f"--ray-address {address}: could not join the Ray cluster: {exc}") from None
        return
    _start_reaper()
    try:
        ray.init(
            address="local",
            num_cpus=num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            _node_ip_address="127.0.0.1",
        )
    except Exception as exc:  # noqa: BLE001 - Ray raises bare Exception (e.g. a node that timed out starting)
        ray.shutdown()  # what it did start goes too
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DolmaError(
            f"--executor ray: the private local Ray did not start ({first}); on a loaded machine retry, or start "
            "one with `ray start --head --node-ip-address 127.0.0.1` and pass --ray-address auto"
        ) from None


_REAPER: list[subprocess.Popen[bytes]] = []
"""The reaper of this process's private Ray (see :mod:`dolma.reaper`); held so its pipe stays open."""


def _start_reaper() -> None:
    """Start the process that kills this private Ray's processes when the driver is gone, and mark the
    environment they will inherit."""
    from dolma import reaper

    token = uuid.uuid4().hex
    _REAPER.append(
        subprocess.Popen(
            [sys.executable, reaper.__file__, token],
            stdin=subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C to the driver's group must not end it first
        )
    )
    os.environ[reaper.VARIABLE] = token
    # Ray renames its processes (ray::DashboardAgent, ray::IDLE) with a vendored setproctitle that takes the
    # environment block as room for the title and clears it, token included, unless SPT_NOENV is set: the
    # agents were then invisible to the reaper and lived 20-30 s after a killed driver.
    os.environ["SPT_NOENV"] = "1"


def _run_on_ray(task: Task) -> tuple[TaskResult, str]:
    import ray

    _tune_gc()
    return task.run(lambda docs, nbytes: None), ray.get_runtime_context().get_node_id()


def _probe_path(directory: str, token: str) -> bool:
    try:
        with open(os.path.join(directory, f".dolma-probe-{token}")) as fh:
            return fh.read() == token
    except OSError:
        return False


class RayExecutor(Executor):
    """Ray tasks on a cluster (``ray_address``) or a private local Ray; same task code as the local pool."""

    def __init__(self, execution: Execution) -> None:
        super().__init__(execution)
        self._checked: set[str] = set()

    def _connect(self) -> None:
        ensure_ray(self.execution.ray_address, self.execution.processes)

    @property
    def workers(self) -> int:
        import ray

        self._connect()
        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    def _execute(self, tasks: Sequence[Task], todo: list[int], summary: RunSummary, bar: _Progress) -> None:
        import ray

        self._connect()
        self._check_shared_outputs([path for index in todo for path in tasks[index].outputs()])
        env = worker_env(self.execution.ray_env)
        options: dict[str, Any] = {"max_retries": 1, "scheduling_strategy": "SPREAD"}
        if env:
            options["runtime_env"] = {"env_vars": env}
        remote = ray.remote(_run_on_ray).options(**options)
        window = max(MIN_WINDOW, WINDOW_PER_CPU * self.workers)
        queue = deque(todo)
        in_flight: dict[Any, int] = {}
        failure: DolmaError | None = None
        while queue or in_flight:
            while queue and failure is None and len(in_flight) < window:
                index = queue.popleft()
                in_flight[remote.remote(tasks[index])] = index
            if not in_flight:
                break
            done, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in done:
                index = in_flight.pop(ref)
                try:
                    result, node = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    cause = exc.cause if isinstance(exc.cause, BaseException) else exc
                    ip = vars(exc).get("ip")  # ray.get's error proxies unknown attributes to the cause
                    where = f"Ray node {ip}, pid {vars(exc).get('pid')}" if ip else "a Ray worker"
                    failure = failure or _failure(tasks[index].label, cause, vars(exc).get("traceback_str", ""), where)
                    continue
                except ray.exceptions.RayError as exc:
                    failure = failure or DolmaError(
                        f"{tasks[index].label}: its Ray worker failed ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); completed shards are kept"
                    )
                    continue
                _collect(summary, index, result, node)
                bar.add(result.counters.get("documents", 0), result.counters.get("bytes", 0))
                bar.file_done()
            if failure is not None:
                queue.clear()
        if failure is not None:
            raise failure

    def _check_shared_outputs(self, outputs: list[str]) -> None:
        """Refuse local output paths that some node of a multi-node cluster cannot see: its workers would
        write to their own disks and the run would report success over outputs nobody can find."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        local = [path for path in outputs if not io.is_s3(path)]
        if not local:
            return
        nodes = [node for node in ray.nodes() if node.get("Alive")]
        if len(nodes) <= 1:
            return
        directory = os.path.dirname(os.path.commonpath([os.path.abspath(path) for path in local]))
        if directory in self._checked:
            return
        os.makedirs(directory, exist_ok=True)
        token = uuid.uuid4().hex
        probe = os.path.join(directory, f".dolma-probe-{token}")
        with open(probe, "w") as fh:
            fh.write(token)
        try:
            check = ray.remote(_probe_path)
            refs = {
                check.options(
                    num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
                ).remote(directory, token): node
                for node in nodes
            }
            for ref, node in refs.items():
                if not ray.get(ref):
                    raise DolmaError(
                        f"{directory}: not visible from Ray node {node['NodeManagerAddress']} "
                        f"({node['NodeID'][:12]}); on a multi-node cluster outputs must be on shared storage or "
                        "s3://"
                    )
        finally:
            os.remove(probe)
        self._checked.add(directory)
