"""Execution settings: the config keys every long-running command shares, and the typed struct built from them.

Commands inherit :class:`RunConfig` for their keys; pipelines never see those keys, only the
:class:`Execution` that :meth:`RunConfig.execution` builds and the executor made from it
(:func:`dolma.executors.make_executor`). So an algorithm cannot look inside the settings to learn which
engine runs it: it asks its executor for what it needs (``executor.workers``, ``executor.task_memory``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Annotated

from msgspec import Meta

from dolma.config import Strict
from dolma.errors import ConfigError

EXECUTORS = ("local", "ray")
LOG_FORMATS = ("text", "json")
DEFAULT_TASK_MEMORY_MB = 2048


class WorkDir(Strict):
    """Accepted for allenai/dolma compatibility; outputs are written atomically, so no work dir is needed."""

    input: str | None = None
    output: str | None = None


class RunConfig(Strict):
    processes: Annotated[int | None, Meta(description="worker processes (default: all cores)")] = None
    executor: Annotated[str, Meta(description="local (process pool on this machine) or ray")] = "local"
    ray_address: Annotated[
        str | None, Meta(description="Ray cluster to join: auto or HOST:PORT; unset starts a private local Ray")
    ] = None
    ray_env: Annotated[
        list[str],
        Meta(description="environment variables passed to Ray workers, besides the AWS_* ones (always passed)"),
    ] = []
    task_memory_mb: Annotated[
        int,
        Meta(
            description="memory budget of one task in MB: stages that need a global view (dedup decisions, "
            "near-duplicate bands) are cut into partitions that fit it"
        ),
    ] = DEFAULT_TASK_MEMORY_MB
    overwrite: Annotated[bool, Meta(description="redo shards whose outputs already exist")] = False
    ignore_existing: Annotated[bool, Meta(description="allenai/dolma's name for overwrite")] = False
    skip_bad_lines: Annotated[
        bool, Meta(description="count and skip malformed lines instead of stopping at the first")
    ] = False
    progress: Annotated[bool | None, Meta(description="progress bar (default: when stderr is a terminal)")] = None
    quiet: Annotated[bool, Meta(description="no progress bar and no summary; errors only")] = False
    log_format: Annotated[str, Meta(description="text, or json: the summary as one JSON object per line on stderr")] = (
        "text"
    )
    debug: Annotated[bool, Meta(description="show the full traceback of a failure (a worker's too)")] = False
    dryrun: Annotated[bool, Meta(description="validate the config and list the work, then stop")] = False
    work_dir: Annotated[WorkDir, Meta(description="accepted for allenai/dolma compatibility")] = WorkDir()

    def execution(self) -> Execution:
        """The typed execution settings; refuses unknown engines and impossible budgets up front."""
        if self.executor not in EXECUTORS:
            raise ConfigError(f"executor: {self.executor!r} is not one of {', '.join(EXECUTORS)}")
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(f"log_format: {self.log_format!r} is not one of {', '.join(LOG_FORMATS)}")
        if self.task_memory_mb < 64:
            raise ConfigError(f"task_memory_mb: {self.task_memory_mb} is too small (at least 64)")
        for name in self.ray_env:
            if not name or "=" in name:
                raise ConfigError(f"ray_env: {name!r} must be a variable name (its value is taken from this shell)")
        return Execution(
            kind=self.executor,
            processes=self.processes if self.processes and self.processes > 0 else None,
            ray_address=self.ray_address,
            ray_env=tuple(self.ray_env),
            task_memory=self.task_memory_mb << 20,
            overwrite=self.overwrite or self.ignore_existing,
            progress=False if self.quiet else self.progress,
            quiet=self.quiet,
            log_format=self.log_format,
            debug=self.debug,
        )


@dataclass(frozen=True)
class Execution:
    """Which engine runs the tasks and how; built once per command from :class:`RunConfig`."""

    kind: str = "local"
    processes: int | None = None
    """Local: pool size (default: the cores of this machine). Ray: CPUs of a private local Ray."""
    ray_address: str | None = None
    ray_env: tuple[str, ...] = ()
    task_memory: int = DEFAULT_TASK_MEMORY_MB << 20
    """Bytes one task may hold; partitioned stages size their partitions from it."""
    overwrite: bool = False
    progress: bool | None = None
    quiet: bool = False
    log_format: str = "text"
    debug: bool = False


def default_processes() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
