"""Ends a private local Ray's processes as soon as the driver that started it is gone, ``kill -9`` included.

Ray ties its GCS server and raylet to the driver, but the agents the raylet starts (the dashboard and
runtime-env agents) poll for their raylet and take 20-30 seconds to notice it died; the issue's rule is that
nothing of a killed run outlives its driver. So before starting a private Ray the driver starts this
script as a separate process reading a pipe whose write end only the driver holds, and sets a run token in
its own environment, which every Ray process it starts inherits (and keeps: the driver also sets
``SPT_NOENV``, without which Ray's renaming of its processes clears their environment block). When the driver
ends by any means the pipe reaches end-of-file and this kills every process carrying the token, and every
process below one of them in the process tree (should some process clear its environment anyway).

Started by path (``python reaper.py TOKEN``), not as part of the package, so it costs a bare interpreter.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterable

VARIABLE = "DOLMA_PRIVATE_RAY"
"""The environment variable holding the run token."""

GRACE_SECONDS = 10.0


def marked(token: str, variable: str = VARIABLE) -> list[int]:
    """Live processes of this user (zombies left out) whose environment sets ``variable`` to ``token``."""
    needle = f"{variable}={token}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if needle in fh.read().split(b"\0") and _stat(entry) is not None:
                    found.append(int(entry))
        except OSError:  # gone meanwhile, or another user's
            continue
    return found


def _stat(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state first), None when gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rpartition(")")[2].split()
    except OSError:
        return None
    return None if not fields or fields[0] == "Z" else fields


def start_time(pid: int) -> str | None:
    """When ``pid`` started, in clock ticks since boot (a pid reused later has another), None when it is gone."""
    fields = _stat(pid)
    return None if fields is None else fields[19]


def descendants(roots: Iterable[int]) -> dict[int, str]:
    """Live processes below ``roots`` in the process tree, with their start times."""
    children: dict[int, list[int]] = {}
    started: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(entry)) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
            started[int(entry)] = fields[19]
    found: dict[int, str] = {}
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found[child] = started[child]
                todo.append(child)
    return found


def main(token: str) -> None:
    sys.stdin.buffer.read()  # returns at end-of-file: the driver has exited or was killed
    deadline = time.monotonic() + GRACE_SECONDS
    quiet = 0  # a process being started as the driver died appears a moment later: stop after 1 s of empty scans
    while quiet < 5 and time.monotonic() < deadline:
        pids = marked(token)
        pids += [pid for pid in descendants(pids) if pid not in pids and pid != os.getpid()]  # a wiped environment
        quiet = 0 if pids else quiet + 1
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.2)


if __name__ == "__main__":
    main(sys.argv[1])
