"""Benchmark: does the driver stay flat when the corpus grows? The whole pipeline (tag -> exact paragraph
dedupe -> MinHash -> mix) on N and 4N documents, each command a separate driver process.

    python benchmarks/bench_scale.py [--docs 20000] [--processes 2] [--bloom-mb 2048] [--task-memory-mb 3072]

Per stage it prints the driver's peak RSS and CPU seconds and the largest worker's peak RSS (a worker runs
several tasks one after another, so this bounds the largest task's), for N and 4N side by side, and the
ratios. The target: the driver's peak RSS and CPU grow by less than 1.3x when the corpus grows 4x, and the
largest task stays within ``task_memory_mb``. The exact dedupe uses a Bloom filter configured at
``--bloom-mb``: the driver must never hold it (its peak RSS stays under 400 MB).

How: each command runs in a child Python that calls ``dolma.cli.main`` and then reports
``getrusage(RUSAGE_SELF)`` (the driver: peak RSS and CPU) and ``getrusage(RUSAGE_CHILDREN)`` (its pool
workers, all waited for: the largest one's peak RSS and their CPU). The local pool is used so every
worker is a child of the driver. Corpora go to benchmarks/work/scale/ (gitignored).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "work" / "scale"

RUNNER = """
import json, resource, sys
from dolma.cli import main
code = main(sys.argv[1:])
me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print("BENCH " + json.dumps({
    "code": code,
    "driver_rss_mb": me.ru_maxrss / 1024,
    "driver_cpu_s": me.ru_utime + me.ru_stime,
    "worker_rss_mb": kids.ru_maxrss / 1024,
    "worker_cpu_s": kids.ru_utime + kids.ru_stime,
}), file=sys.stderr)
"""


def make_corpus(root: Path, docs: int, shards: int, seed: int = 0) -> float:
    """Web-like documents with shared boilerplate paragraphs and edited copies; returns MB written."""
    from dolma import io

    rng = random.Random(seed)
    vocab = ["".join(rng.choices("etaoinshrdlcumwfgypbvk", k=rng.randint(2, 8))) for _ in range(20_000)]
    boiler = [" ".join(rng.choices(vocab, k=rng.randint(5, 25))) for _ in range(2_000)]
    originals: list[str] = []
    total = 0
    per_shard = docs // shards
    for shard in range(shards):
        lines = []
        for i in range(per_shard):
            if originals and rng.random() < 0.1:
                words = rng.choice(originals).split()
                words[rng.randrange(len(words))] = rng.choice(vocab)
                body = " ".join(words)
            else:
                body = "\n".join(" ".join(rng.choices(vocab, k=rng.randint(20, 120))) for _ in range(rng.randint(1, 6)))
                if len(originals) < 5_000:
                    originals.append(body)
            text = f"{body}\n{rng.choice(boiler)}"
            lines.append(json.dumps({"id": f"d{shard}-{i}", "text": text, "source": "bench"}).encode() + b"\n")
        data = b"".join(lines)
        total += len(data)
        io.write_bytes(str(root / "documents" / f"{shard:04d}.jsonl.gz"), data)
    return total / 1e6


def configs(root: Path, bloom_mb: int) -> list[tuple[str, str, dict]]:
    docs = [str(root / "documents" / "*.jsonl.gz")]
    return [
        ("tag", "tag", {"documents": docs, "experiment": "q", "taggers": ["char_length", "whitespace_tokenizer"]}),
        (
            "exact dedupe",
            "dedupe",
            {
                "documents": docs,
                "dedupe": {"name": "dup", "paragraphs": {"attribute_name": "dup_paragraphs"}},
                "bloom_filter": {"file": str(root / "bloom.bin"), "size_in_bytes": bloom_mb << 20},
            },
        ),
        ("minhash", "dedupe", {"documents": docs, "dedupe": {"name": "near"}, "minhash": {"num_perm": 128}}),
        (
            "mix",
            "mix",
            {
                "streams": [
                    {
                        "name": "out",
                        "documents": docs,
                        "attributes": ["q", "dup", "near"],
                        "filter": {"exclude": ["$.attributes[?(@.minhash_duplicate[0][2] == 1)]"]},
                        "span_replacement": [{"span": "$.attributes.dup_paragraphs", "min_score": 0.5}],
                        "output": {"path": str(root / "mix"), "max_size_in_bytes": 50_000_000},
                    }
                ]
            },
        ),
    ]


def run_stage(command: str, config: dict, path: Path, extra: list[str]) -> dict:
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, command, "-c", str(path), *extra],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("BENCH ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{command} failed:\n{done.stderr[-3000:]}")
    result: dict = json.loads(lines[-1][len("BENCH ") :])
    if result["code"] != 0:
        raise SystemExit(f"{command} exited {result['code']}:\n{done.stderr[-3000:]}")
    return result


def run_size(docs: int, args: argparse.Namespace) -> tuple[float, dict[str, dict]]:
    root = WORK / f"n{docs}"
    shutil.rmtree(root, ignore_errors=True)
    mb = make_corpus(root, docs, shards=max(4, docs // 2_500))
    extra = ["--processes", str(args.processes), "--task-memory-mb", str(args.task_memory_mb)]
    out = {}
    for i, (stage, command, config) in enumerate(configs(root, args.bloom_mb)):
        out[stage] = run_stage(command, config, root / f"{i}.yaml", extra)
        print(f"  n={docs:,} {stage}: {out[stage]}", flush=True)
    return mb, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20_000, help="N; the second run has 4N documents")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--bloom-mb", type=int, default=2048, help="configured Bloom filter size")
    parser.add_argument("--task-memory-mb", type=int, default=3072, help="the per-task memory budget")
    args = parser.parse_args()
    small_mb, small = run_size(args.docs, args)
    large_mb, large = run_size(4 * args.docs, args)
    print(f"\ncorpus: {args.docs:,} docs ({small_mb:.1f} MB) vs {4 * args.docs:,} docs ({large_mb:.1f} MB)")
    header = (
        f"{'stage':<14} {'driver RSS MB':>20} {'ratio':>6} {'driver CPU s':>16} {'ratio':>6} "
        f"{'largest worker MB':>20} {'worker CPU s/MB':>18}"
    )
    print(header)
    for stage in small:
        a, b = small[stage], large[stage]
        print(
            f"{stage:<14} {a['driver_rss_mb']:>9.0f} -> {b['driver_rss_mb']:>6.0f} "
            f"{b['driver_rss_mb'] / a['driver_rss_mb']:>6.2f} "
            f"{a['driver_cpu_s']:>7.2f} -> {b['driver_cpu_s']:>5.2f} "
            f"{b['driver_cpu_s'] / max(a['driver_cpu_s'], 1e-3):>6.2f} "
            f"{a['worker_rss_mb']:>9.0f} -> {b['worker_rss_mb']:>6.0f} "
            f"{a['worker_cpu_s'] / small_mb:>8.3f} / {b['worker_cpu_s'] / large_mb:>6.3f}"
        )
    worst_bloom = max(small["exact dedupe"]["driver_rss_mb"], large["exact dedupe"]["driver_rss_mb"])
    print(f"\nexact dedupe with a {args.bloom_mb} MB filter: driver peak RSS {worst_bloom:.0f} MB (target < 400 MB)")


if __name__ == "__main__":
    main()
