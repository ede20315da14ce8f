"""Peak memory of `dolma tag` on one very large document (issue 10: one 100 MB document peaked at 1.8 GB).

Writes one document of ``--mb`` MB of words into a temporary corpus, runs `dolma tag --processes 1` once per
tagger in a fresh process, and prints each run's peak RSS (the driver is the only process with one process)
beside the document's size, and the wall and CPU time.

    python benchmarks/bench_big_document.py --mb 100 --taggers char_length whitespace_tokenizer
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--taggers", nargs="+", default=["char_length", "whitespace_tokenizer"])
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="dolma-big-"))
    (root / "documents").mkdir()
    rng = random.Random(0)
    size = args.mb * 1_000_000
    text = " ".join(rng.choice(WORDS) for _ in range(size // 5))[:size]
    path = root / "documents" / "big.jsonl"
    path.write_text(json.dumps({"id": "big", "text": text}) + "\n")
    del text
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    print(f"one document of {path.stat().st_size / 1e6:.1f} MB; load {os.getloadavg()[0]:.1f}")
    print(f"{'tagger':<24} {'peak RSS MB':>12} {'x document':>11} {'wall s':>8} {'CPU s':>8}")
    for tagger in args.taggers:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        command = [sys.executable, "-c", "import resource, sys; from dolma.cli import main; code = main(sys.argv[1:]); "
                   "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(code)",
                   "tag", "--documents", str(path), "--taggers", tagger, "--processes", "1", "--overwrite"]  # fmt: skip
        proc = subprocess.run(command, env=env, capture_output=True, text=True)
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            print(proc.stderr)
            return 1
        peak_mb = int(proc.stderr.strip().splitlines()[-1]) / 1024
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print(f"{tagger:<24} {peak_mb:>12,.0f} {peak_mb / (size / 1e6):>11.1f} {wall:>8.1f} {cpu:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
