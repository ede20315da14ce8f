"""What a pipeline run returns, and the one printer of every command's end-of-run summary.

Every pipeline ends the same way: ``run_<x>(run, executor) -> Outcome``; the command prints it with
:func:`print_outcome`, as text (a one-screen summary) or, with ``--log-format json``, as one JSON object a
machine can read.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

from dolma.executors import Executor, RunSummary

MAX_NOTES = 20


@dataclass
class Outcome:
    title: str
    """The command, e.g. ``dolma tag``."""
    headline: str = ""
    """One line of what happened, e.g. ``8 shard(s) done, 0 skipped (outputs exist)``."""
    counters: dict[str, int] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    """Further facts (stage timings, a filter's size, where the manifest is)."""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    nodes: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    """Anything a caller or the JSON log may want beyond the counters (never per-document data)."""

    @classmethod
    def of(cls, title: str, summary: RunSummary, **fields: Any) -> Outcome:
        """An outcome from an executor's summary (counters, notes, timing, nodes)."""
        headline = f"{summary.tasks_run} shard(s) done, {summary.tasks_skipped} skipped (outputs exist)"
        return cls(
            title=title,
            headline=fields.pop("headline", headline),
            counters=dict(summary.counters),
            notes=list(summary.notes),
            seconds=summary.seconds,
            nodes=dict(summary.nodes),
            **fields,
        )


def render(outcome: Outcome) -> list[str]:
    out = [f"{outcome.title}: {outcome.headline}" if outcome.headline else outcome.title]
    out.extend(f"  {key}: {value:,}" for key, value in sorted(outcome.counters.items()))
    mb = outcome.counters.get("bytes", 0) / 1e6
    if outcome.seconds > 0 and mb:
        out.append(f"  {mb:,.1f} MB in {outcome.seconds:,.1f} s ({mb / outcome.seconds:,.1f} MB/s)")
    if len(outcome.nodes) > 1:
        per_node = ", ".join(f"{node[:12]} {count}" for node, count in sorted(outcome.nodes.items()))
        out.append(f"  tasks per node ({len(outcome.nodes)} nodes): {per_node}")
    out.extend(f"  {line}" for line in outcome.lines)
    if outcome.notes:
        out.append("  notes:")
        out.extend(f"    {note}" for note in outcome.notes[:MAX_NOTES])
        if len(outcome.notes) > MAX_NOTES:
            out.append(f"    ... and {len(outcome.notes) - MAX_NOTES} more")
    return out


def print_outcome(outcome: Outcome, executor: Executor) -> None:
    """The summary on stderr: nothing with ``--quiet``, one JSON object with ``--log-format json`` (with
    every stage the executor ran: tasks run and skipped, seconds, tasks per node)."""
    execution = executor.execution
    if execution.quiet:
        return
    if execution.log_format == "json":
        record = {
            "command": outcome.title,
            "headline": outcome.headline,
            "counters": outcome.counters,
            "seconds": round(outcome.seconds, 3),
            "nodes": outcome.nodes,
            "lines": outcome.lines,
            "notes": outcome.notes,
            "details": outcome.details,
            "stages": [vars(stage) for stage in executor.history],
        }
        print(json.dumps(record, sort_keys=True, default=str), file=sys.stderr)
        return
    print("\n".join(render(outcome)), file=sys.stderr)
