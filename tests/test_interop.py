"""Interop with allenai/dolma 1.2.1, run only where that package is installed in its own virtualenv
(set DOLMA_PEER_BIN to its `dolma` executable)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PEER = os.environ.get("DOLMA_PEER_BIN", "/work/peers_dolma/bin/dolma")
SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")


@pytest.mark.skipif(not os.path.exists(PEER), reason="allenai/dolma 1.2.1 is not installed (DOLMA_PEER_BIN)")
def test_dolma_mixer_reads_our_attributes():
    result = subprocess.run(
        [sys.executable, os.path.join(SCRIPT, "interop_dolma_attributes.py"), "--peer", PEER],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK:" in result.stdout
