"""Config keys every long-running command shares: execution, resume and bad-line handling."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from dolma.config import Strict
from dolma.executors import RunSummary, default_processes


class WorkDir(Strict):
    """Accepted for allenai/dolma compatibility; outputs are written atomically, so no work dir is needed."""

    input: str | None = None
    output: str | None = None


class RunConfig(Strict):
    processes: Annotated[int | None, Meta(description="worker processes (default: all cores)")] = None
    executor: Annotated[str, Meta(description="local (process pool) or ray")] = "local"
    ray_address: Annotated[str | None, Meta(description="Ray cluster: auto or HOST:PORT; unset starts a local Ray")] = (
        None
    )
    overwrite: Annotated[bool, Meta(description="redo shards whose outputs already exist")] = False
    ignore_existing: Annotated[bool, Meta(description="allenai/dolma's name for overwrite")] = False
    skip_bad_lines: Annotated[
        bool, Meta(description="count and skip malformed lines instead of stopping at the first")
    ] = False
    progress: Annotated[bool | None, Meta(description="progress bar (default: when stderr is a terminal)")] = None
    debug: Annotated[bool, Meta(description="accepted for allenai/dolma compatibility")] = False
    dryrun: Annotated[bool, Meta(description="validate the config and list the work, then stop")] = False
    work_dir: Annotated[WorkDir, Meta(description="accepted for allenai/dolma compatibility")] = WorkDir()

    def workers(self) -> int:
        return self.processes if self.processes and self.processes > 0 else default_processes()

    def redo(self) -> bool:
        return self.overwrite or self.ignore_existing

    def execute_kwargs(self) -> dict[str, object]:
        return {
            "executor": self.executor,
            "processes": self.workers(),
            "overwrite": self.redo(),
            "ray_address": self.ray_address,
            "progress": self.progress,
        }


def print_summary(summary: RunSummary, title: str) -> None:
    import sys

    print("\n".join(summary.lines(title)), file=sys.stderr)
