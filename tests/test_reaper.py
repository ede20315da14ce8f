"""The reaper of a private Ray: when its driver's pipe closes it kills every process carrying the run token and
every process below one of them, even one whose environment no longer holds the token."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

from dolma import reaper
from dolma.reaper import descendants, start_time

# a marked process starting a child with an empty environment (as a process that wipes its own would look)
PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env={})
print(child.pid, flush=True)
time.sleep(60)
"""


def test_descendants_and_start_times_follow_the_process_tree() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        below = descendants([parent.pid])
        assert child in below and below[child] == start_time(child) is not None
        assert parent.pid not in below and os.getpid() not in below
        assert parent.pid in descendants([os.getpid()])
    finally:
        parent.kill()
        parent.wait()
    os.kill(child, 9)
    deadline = time.monotonic() + 10
    while start_time(child) is not None:  # gone, or a zombie until init reaps it: both read as None
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_the_reaper_kills_marked_processes_and_their_unmarked_children() -> None:
    token = uuid.uuid4().hex
    watcher = subprocess.Popen([sys.executable, reaper.__file__, token], stdin=subprocess.PIPE)
    marked = subprocess.Popen(
        [sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, env={**os.environ, reaper.VARIABLE: token}
    )
    assert marked.stdout is not None
    child = int(marked.stdout.readline())
    started = start_time(child)
    assert started is not None and reaper.marked(token) == [marked.pid]  # the child does not carry the token
    assert watcher.stdin is not None
    watcher.stdin.close()  # the driver is gone
    try:
        assert marked.wait(timeout=10) == -9
        watcher.wait(timeout=15)
        assert start_time(child) != started  # killed too (a reused pid would have another start time)
    finally:
        for pid in (marked.pid, child):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
