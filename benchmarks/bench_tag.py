"""Throughput of `dolma tag`: pass-through (read, decode, write attribute rows) and the length taggers,
with 1 and 2 processes, runs interleaved so machine load hits every configuration alike.

    python benchmarks/bench_tag.py [--mb 200] [--repeats 3]

Prints, per configuration, the median wall time, docs/s, MB/s of uncompressed JSONL, and CPU-seconds per MB
(user+sys of the child processes: stable when the machine is loaded).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIGS = {
    "passthrough": ["--taggers", "passthrough", "--tagger_modules", os.path.join(HERE, "passthrough_plugin.py")],
    "lengths": ["--taggers", "char_length", "whitespace_tokenizer", "--experiment", "lengths"],
}


def corpus_stats(root: str) -> tuple[int, int]:
    sys.path.insert(0, os.path.dirname(HERE))
    from dolma import io
    from dolma.documents import read_documents

    docs = nbytes = 0
    for path in io.glob(f"{root}/documents/*"):
        for _, _, size in read_documents(path):
            docs += 1
            nbytes += size
    return docs, nbytes


def run_once(root: str, args: list[str], processes: int) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "dolma.cli",
            "tag",
            "--documents",
            f"{root}/documents/*",
            *args,
            "--processes",
            str(processes),
            "--overwrite",
            "--progress",
            "false",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=200)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", default=os.path.join(HERE, "work", "tag"))
    args = parser.parse_args()
    root = args.work
    if not os.path.exists(f"{root}/documents"):
        subprocess.run(
            [
                sys.executable,
                os.path.join(HERE, "corpus.py"),
                root,
                "--mb",
                str(args.mb),
                "--shards",
                str(args.shards),
                "--ext",
                ".jsonl.zst",
            ],
            check=True,
        )
    docs, nbytes = corpus_stats(root)
    mb = nbytes / 1e6
    print(f"corpus: {docs:,} docs, {mb:,.1f} MB uncompressed JSONL in {args.shards} .jsonl.zst shards")
    print(f"load average before: {os.getloadavg()}")
    runs: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for _ in range(args.repeats):
        for name, extra in CONFIGS.items():
            for processes in (1, 2):
                runs.setdefault((name, processes), []).append(run_once(root, extra, processes))
    print(f"load average after: {os.getloadavg()}")
    print(
        f"{'config':<12} {'procs':>5} {'wall s':>7} {'docs/s':>9} {'MB/s':>7} {'MB/s/proc':>9} "
        f"{'CPU s/MB':>9} {'MB per CPU-s':>12}"
    )
    for (name, processes), samples in runs.items():
        wall = statistics.median(s[0] for s in samples)
        cpu = statistics.median(s[1] for s in samples)
        print(
            f"{name:<12} {processes:>5} {wall:>7.2f} {docs / wall:>9,.0f} {mb / wall:>7.1f} "
            f"{mb / wall / processes:>9.1f} {cpu / mb:>9.4f} {mb / cpu:>12.1f}"
        )


if __name__ == "__main__":
    main()
