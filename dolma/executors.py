"""Run shard tasks on a local process pool or as Ray tasks, with progress, resume and a summary.

The contract is small on purpose (see :class:`Task`): a task names its outputs, and ``run`` writes them
atomically and returns counters. The executor skips tasks whose outputs all exist (unless ``overwrite``),
runs the rest, sums the counters, and never lets timing or worker count change what a task writes.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import queue
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Protocol

from dolma import io
from dolma.errors import DolmaError

Report = Callable[[int, int], None]
"""``report(documents, bytes)``: a task's progress since its previous report."""


class ProgressCounter:
    """Accumulates a task's progress and passes it to ``report`` every ``every`` documents, so reporting
    (a queue put in a pool worker) stays off the per-document path."""

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


@dataclass
class TaskResult:
    counters: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    """Short remarks for the summary, e.g. locations of skipped bad lines."""
    payload: Any = None
    """Anything else the command merges afterwards (e.g. statistics); must be picklable."""


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

    def lines(self, title: str) -> list[str]:
        out = [f"{title}: {self.tasks_run} shard(s) done, {self.tasks_skipped} skipped (outputs exist)"]
        for key in sorted(self.counters):
            value = self.counters[key]
            out.append(f"  {key}: {value:,}")
        mb = self.counters.get("bytes", 0) / 1e6
        if self.seconds > 0 and mb:
            out.append(f"  {mb:,.1f} MB in {self.seconds:,.1f} s ({mb / self.seconds:,.1f} MB/s)")
        if self.notes:
            out.append("  notes:")
            out.extend(f"    {note}" for note in self.notes[:20])
            if len(self.notes) > 20:
                out.append(f"    ... and {len(self.notes) - 20} more")
        return out


def default_processes() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class _Progress:
    """A tqdm bar over files with documents and MB/s in its postfix; silent when not on a terminal."""

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


def pending(tasks: Sequence[Task], overwrite: bool) -> list[int]:
    """Indices of tasks to run: all with ``overwrite``, else those missing any output (a task without
    outputs, such as a statistics pass, always runs)."""
    if overwrite:
        return list(range(len(tasks)))
    return [i for i, task in enumerate(tasks) if not task.outputs() or not all(map(io.exists, task.outputs()))]


def run_tasks(
    tasks: Sequence[Task],
    *,
    desc: str,
    executor: str = "local",
    processes: int | None = None,
    overwrite: bool = False,
    ray_address: str | None = None,
    progress: bool | None = None,
) -> RunSummary:
    """Run ``tasks``; on the first failure, stop starting new ones, let running ones finish, and raise.
    Shards completed before a failure stay valid, so a rerun resumes where this one stopped."""
    todo = pending(tasks, overwrite)
    summary = RunSummary(tasks_skipped=len(tasks) - len(todo), results=[None] * len(tasks))
    show = sys.stderr.isatty() if progress is None else progress
    bar = _Progress(desc, len(todo), show)
    started = time.monotonic()
    try:
        if executor == "local":
            _run_local(tasks, todo, processes or default_processes(), summary, bar)
        elif executor == "ray":
            _run_ray(tasks, todo, processes, ray_address, summary, bar)
        else:
            raise DolmaError(f"unknown executor {executor!r}: use local or ray")
    finally:
        bar.close()
        summary.seconds = time.monotonic() - started
    return summary


def _collect(summary: RunSummary, index: int, result: TaskResult) -> None:
    summary.results[index] = result
    summary.tasks_run += 1
    summary.counters.update(result.counters)
    summary.notes.extend(result.notes)


# --------------------------------------------------------------------------------------------- local pool

_worker_queue: Any = None

WORKER_GC_THRESHOLD = 100_000
"""The cyclic garbage collector's first-generation threshold in workers (Python's default: 700). Tasks allocate
millions of short-lived objects (word lists, counts, spans) that form no cycles and are freed batch by batch;
at the default the collector scans them about a thousand times a shard, 7% of the CPU time of the tagging
benchmark. Raised, it still runs whenever 100,000 more objects have been allocated than freed, so reference
cycles a plugin leaks are still collected."""


def _tune_gc() -> tuple[int, ...]:
    """Raise the threshold (see ``WORKER_GC_THRESHOLD``); returns the previous thresholds."""
    previous = gc.get_threshold()
    gc.set_threshold(WORKER_GC_THRESHOLD, *previous[1:])
    return previous


def _init_worker(progress_queue: Any) -> None:
    global _worker_queue
    _worker_queue = progress_queue
    _tune_gc()


def _queue_report(docs: int, nbytes: int) -> None:
    if _worker_queue is not None:
        _worker_queue.put((docs, nbytes))


def _run_in_worker(task: Task) -> TaskResult:
    return task.run(_queue_report)


def _run_local(tasks: Sequence[Task], todo: list[int], processes: int, summary: RunSummary, bar: _Progress) -> None:
    if processes <= 1 or len(todo) <= 1:  # in this process: the caller's collector settings come back after
        previous = _tune_gc()
        try:
            for index in todo:
                _collect(summary, index, tasks[index].run(bar.add))
                bar.file_done()
        finally:
            gc.set_threshold(*previous)
        return
    context = multiprocessing.get_context("spawn")
    progress_queue = context.Queue()
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            try:
                docs, nbytes = progress_queue.get(timeout=0.2)
            except queue.Empty:
                continue
            bar.add(docs, nbytes)

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    failure: BaseException | None = None
    failed_label = ""
    try:
        with ProcessPoolExecutor(
            max_workers=min(processes, len(todo)),
            mp_context=context,
            initializer=_init_worker,
            initargs=(progress_queue,),
        ) as pool:
            queued = iter(todo)
            running: dict[Future[TaskResult], int] = {}

            def submit_next() -> None:
                index = next(queued, None)
                if index is not None:
                    running[pool.submit(_run_in_worker, tasks[index])] = index

            for _ in range(min(processes * 2, len(todo))):
                submit_next()
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    index = running.pop(future)
                    try:
                        result = future.result()
                    except BaseException as exc:  # noqa: BLE001 - re-raised below after running tasks end
                        if failure is None:
                            failure, failed_label = exc, tasks[index].label
                        continue
                    _collect(summary, index, result)
                    bar.file_done()
                    if failure is None:
                        submit_next()
    finally:
        stop.set()
        drainer.join()
    if failure is not None:
        if isinstance(failure, BrokenProcessPool):
            raise DolmaError(
                f"a worker process died (killed or out of memory) while running {failed_label}; "
                "completed shards are kept and a rerun resumes from them"
            ) from failure
        raise failure


# ------------------------------------------------------------------------------------------------- ray


def ensure_ray(address: str | None, num_cpus: int | None) -> None:
    """Join the cluster at ``address`` (``auto`` or ``HOST:PORT``), or start a private local Ray."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address:
        ray.init(address=address, log_to_driver=False)
    else:  # a private instance: loopback only, no token file written to the user's home
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)


def _run_ray(
    tasks: Sequence[Task],
    todo: list[int],
    processes: int | None,
    address: str | None,
    summary: RunSummary,
    bar: _Progress,
) -> None:
    import ray

    if not todo:
        return
    ensure_ray(address, processes)
    remote = ray.remote(_run_silently).options(max_retries=1)
    refs = {remote.remote(tasks[index]): index for index in todo}
    failure: BaseException | None = None
    while refs:
        done, _ = ray.wait(list(refs), num_returns=1)
        index = refs.pop(done[0])
        try:
            result = ray.get(done[0])
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)  # the task's own exception, without Ray's traceback text
            failure = failure or (cause if isinstance(cause, Exception) else exc.as_instanceof_cause())
            continue
        except ray.exceptions.RayError as exc:
            failure = failure or DolmaError(f"Ray task for {tasks[index].label} failed: {exc}")
            continue
        _collect(summary, index, result)
        bar.add(result.counters.get("documents", 0), result.counters.get("bytes", 0))
        bar.file_done()
    if failure is not None:
        raise failure


def _run_silently(task: Task) -> TaskResult:
    _tune_gc()
    return task.run(lambda docs, nbytes: None)
