"""Mixer throughput: our `dolma mix` against allenai/dolma 1.2.1's Rust mixer, same config, same inputs,
same process count, side by side in one run.

    python benchmarks/bench_mix.py [--mb 80] [--shards 4] [--processes 2] [--runs 3] [--peer PATH] [--before DIR]

The config is a dolma mixer config with a sample (an include on a random-number attribute, as dolma
configs sample) and eight exclude filters over one attribute experiment, written once and given to both
tools unchanged. Reports per tool the median wall time, MB/s (uncompressed input JSON), CPU seconds per MB,
and peak resident memory of the largest process; then checks memory stays flat when the input doubles.
The corpus and attributes are generated under benchmarks/work/ (gitignored).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(HERE, "work", "mix")
DEFAULT_PEER = "/work/peers_dolma/bin/dolma"

FILTERS = {
    "include": ["$.attributes[?(@.exp__random[0][2] < 0.8)]"],
    "exclude": [
        "$.attributes[?(@.exp__words[0][2] < 50)]",
        "$.attributes[?(@.exp__chars[0][2] > 20000)]",
        "$.attributes[?(@.exp__lang_en[0][2] < 0.5)]",
        "$.attributes[?(@.exp__pii && @.exp__pii[0] && @.exp__pii[0][2] > 0.1)]",
        "$.attributes[?(@.exp__gopher_bad[0][2] > 0.5)]",
        "$.attributes[?(@.exp__c4_bad[0][2] > 0.5)]",
        "$.attributes[?(@.exp__dup && @.exp__dup[0] && @.exp__dup[0][2] > 0.5)]",
        "$.attributes[?(@.exp__toxic[0][2] > 0.9)]",
    ],
}


def make_corpus(root: str, mb: float, shards: int) -> float:
    """Documents via benchmarks/corpus.py and one attribute experiment with nine attributes per document."""
    if not os.path.exists(f"{root}/documents"):
        subprocess.run(
            [sys.executable, f"{HERE}/corpus.py", root, "--mb", str(mb), "--shards", str(shards), "--ext", ".jsonl.gz"],
            check=True,
        )
    total = 0
    rng = random.Random(1)
    for name in sorted(os.listdir(f"{root}/documents")):
        doc_path = f"{root}/documents/{name}"
        attr_path = f"{root}/attributes/exp/{name}"
        with gzip.open(doc_path, "rb") as handle:
            raw = handle.read()
        total += len(raw)
        if os.path.exists(attr_path):
            continue
        os.makedirs(os.path.dirname(attr_path), exist_ok=True)
        rows = []
        for line in raw.splitlines():
            doc = json.loads(line)
            text = doc["text"]
            n = len(text)
            cut = text.find("\n")
            attrs = {
                "exp__random": [[0, n, round(rng.random(), 5)]],
                "exp__words": [[0, n, float(len(text.split()))]],
                "exp__chars": [[0, n, float(n)]],
                "exp__lang_en": [[0, n, round(0.3 + 0.7 * rng.random(), 5)]],
                "exp__pii": [[0, n, 0.2]] if rng.random() < 0.05 else [],
                "exp__gopher_bad": [[0, n, 1.0 if rng.random() < 0.1 else 0.0]],
                "exp__c4_bad": [[0, n, 1.0 if rng.random() < 0.05 else 0.0]],
                "exp__dup": [[0, cut + 1, 1.0]] if cut > 0 and rng.random() < 0.1 else [],
                "exp__toxic": [[0, n, round(rng.random(), 5)]],
            }
            rows.append(json.dumps({"id": doc["id"], "attributes": attrs, "source": doc.get("source")}))
        with gzip.open(attr_path, "wt", compresslevel=1) as out:
            out.write("\n".join(rows) + "\n")
    return total / 1e6


def config(root: str, out: str, processes: int) -> dict:
    return {
        "streams": [
            {
                "name": "bench",
                "documents": [f"{root}/documents/*.jsonl.gz"],
                "attributes": ["exp"],
                "output": {"path": out, "max_size_in_bytes": 500_000_000, "discard_fields": ["attributes"]},
                "filter": FILTERS,
            }
        ],
        "processes": processes,
    }


_MEASURE = (
    "import json, resource, subprocess, sys, time\n"
    "t = time.perf_counter(); r = subprocess.run(sys.argv[1:], capture_output=True)\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "sys.stderr.buffer.write(r.stderr[-3000:])\n"
    "print(json.dumps([r.returncode, time.perf_counter() - t, u.ru_utime + u.ru_stime, u.ru_maxrss / 1024]))\n"
)


def timed(cmd: list[str], env: dict[str, str] | None = None, cwd: str | None = None) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds of the command and its workers, and the largest process's peak RSS in MB
    (measured in a fresh wrapper process, so runs do not see each other's peaks)."""
    result = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True, env=env, cwd=cwd)
    code, wall, cpu, rss = json.loads(result.stdout.strip().splitlines()[-1])
    if code != 0:
        print(result.stderr[-3000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return wall, cpu, rss


def count_docs(out: str) -> int:
    total = 0
    for name in os.listdir(out):
        if name.endswith((".json.gz", ".jsonl.gz")):
            with gzip.open(os.path.join(out, name), "rb") as handle:
                total += sum(1 for _ in handle)
    return total


def run_tool(
    tool: str, peer: str, root: str, processes: int, before: str | None = None
) -> tuple[float, float, float, int]:
    out = f"{root}/out_{tool}"
    shutil.rmtree(out, ignore_errors=True)
    cfg_path = f"{root}/mix_{tool}.json"
    with open(cfg_path, "w") as handle:
        json.dump(config(root, out, processes), handle)
    env = None
    if tool == "dolma-1.2.1":
        cmd = [peer, "-c", cfg_path, "mix"]
    else:
        cmd = [sys.executable, "-m", "dolma.cli", "mix", "-c", cfg_path, "--overwrite", "--progress", "false"]
        if tool == "before":  # the checkout's code first on the path; run outside this repository
            env = {**os.environ, "PYTHONPATH": before or ""}
    wall, cpu, rss = timed(cmd, env, cwd=root)
    return wall, cpu, rss, count_docs(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=80)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--peer", default=os.environ.get("DOLMA_PEER_BIN", DEFAULT_PEER))
    parser.add_argument("--before", help="a checkout of earlier code (git worktree add --detach DIR COMMIT)")
    args = parser.parse_args()
    root = f"{WORK}/{int(args.mb)}mb-{args.shards}"
    mb = make_corpus(root, args.mb, args.shards)
    print(f"corpus: {mb:,.1f} MB uncompressed JSONL in {args.shards} shards, one sample + eight filters, "
          f"{args.processes} processes, {args.runs} runs each (interleaved)")  # fmt: skip
    tools = ["ours"] + (["before"] if args.before else []) + (["dolma-1.2.1"] if os.path.exists(args.peer) else [])
    results: dict[str, list[tuple[float, float, float, int]]] = {tool: [] for tool in tools}
    for _ in range(args.runs):
        for tool in tools:
            results[tool].append(run_tool(tool, args.peer, root, args.processes, args.before))
    print(f"{'tool':<14}{'wall s (median)':>16}{'MB/s':>9}{'CPU s/MB':>10}{'peak RSS MB':>13}{'docs out':>10}")
    speed = {}
    for tool, runs in results.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        rss = max(r[2] for r in runs)
        speed[tool] = mb / wall
        print(f"{tool:<14}{wall:>16.2f}{mb / wall:>9.1f}{cpu / mb:>10.3f}{rss:>13.0f}{runs[0][3]:>10,}")
    if "before" in speed:
        cpu_of = {tool: statistics.median(r[1] for r in runs) for tool, runs in results.items()}
        print(
            f"ratio (ours / before): MB/s {speed['ours'] / speed['before']:.2f}x, "
            f"CPU s/MB {cpu_of['ours'] / cpu_of['before']:.2f}x"
        )
        if results["ours"][0][3] != results["before"][0][3]:
            print(f"note: documents out differ from before: {results['ours'][0][3]} vs {results['before'][0][3]}")
    if "dolma-1.2.1" in speed:
        print(f"ratio (ours / dolma 1.2.1 MB/s): {speed['ours'] / speed['dolma-1.2.1']:.1f}x")
        docs = {tool: runs[0][3] for tool, runs in results.items()}
        if docs["ours"] != docs["dolma-1.2.1"]:
            print(f"note: documents out differ: {docs}")
    doubled = f"{WORK}/{int(args.mb)}mb-{args.shards}-doubled"
    if not os.path.exists(doubled):
        os.makedirs(f"{doubled}/documents", exist_ok=True)
        os.makedirs(f"{doubled}/attributes/exp", exist_ok=True)
        for copy in range(2):
            for name in os.listdir(f"{root}/documents"):
                for kind in ("documents", "attributes/exp"):
                    os.link(f"{root}/{kind}/{name}", f"{doubled}/{kind}/{copy}-{name}")
    wall, cpu, rss, _ = run_tool("ours", args.peer, doubled, args.processes)
    print(
        f"memory with twice the input ({2 * mb:,.0f} MB): peak RSS {rss:.0f} MB, {2 * mb / wall:.1f} MB/s (streaming)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
