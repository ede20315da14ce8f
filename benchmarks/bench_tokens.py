"""`dolma tokens` throughput beside the tokenizer's own batch encoding and allenai/dolma 1.2.1's `tokens`, in one run.

    python benchmarks/bench_tokens.py [--mb 40] [--shards 4] [--vocab 16000] [--runs 3] [--peer PATH]

One tokenizer.json is trained here (byte-level BPE on a sample of the corpus; nothing downloaded) and given
to all three:

- bare: the `tokenizers` library alone, `encode_batch_fast` over batches of 10,000 texts already in memory
  (no reading, no writing), one thread: the floor any tokens command pays.
- ours: `dolma tokens --processes 1` (one core), then `--processes 2`.
- dolma-1.2.1: `dolma tokens --processes 1` of allenai/dolma 1.2.1, same tokenizer file, EOS and max_size.

Per tool: median wall s, MB/s of uncompressed JSONL, tokens/s, CPU s per MB and, for the 1-process runs,
tokens/s per core; then ours/bare and ours/dolma ratios. A check compares the token ids each tool wrote for
every document (ours vs the bare encoding vs dolma's files). Runs are interleaved. The corpus goes under
benchmarks/work/ (gitignored).
"""

from __future__ import annotations

import argparse
import csv
import glob
import gzip
import io as pyio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
WORK = os.path.join(HERE, "work", "tokens")
DEFAULT_PEER = "/work/peers_dolma/bin/dolma"
EOS = 0

from corpus import make_text  # noqa: E402


def make_corpus(root: str, mb: float, shards: int) -> float:
    """Web-like documents, with a share of rarer strings (numbers, names, mixed case) so BPE splits words."""
    docs_dir = f"{root}/documents"
    if os.path.isdir(docs_dir) and len(os.listdir(docs_dir)) == shards:
        return sum(len(gzip.open(p).read()) for p in glob.glob(f"{docs_dir}/*.gz")) / 1e6
    os.makedirs(docs_dir, exist_ok=True)
    rng = random.Random(0)
    per_shard = int(mb * 1e6 / shards)
    total = 0
    n = 0
    for shard in range(shards):
        lines = []
        size = 0
        while size < per_shard:
            extra = " ".join(
                rng.choice([f"{rng.randint(0, 99999)}", f"Name{rng.randint(0, 5000)}", "ÜberCafé", "x_y.z()"])
                for _ in range(rng.randint(0, 30))
            )
            text = make_text(rng) + ("\n\n" + extra if extra else "")
            line = json.dumps({"id": f"doc-{n}", "text": text, "source": "bench"}).encode() + b"\n"
            lines.append(line)
            size += len(line)
            n += 1
        with gzip.open(f"{docs_dir}/shard-{shard:04d}.jsonl.gz", "wb", compresslevel=1) as out:
            out.write(b"".join(lines))
        total += size
    return total / 1e6


def train(root: str, vocab: int) -> str:
    """A BPE tokenizer.json with its merges written as "a b" strings: tokenizers >= 0.20 writes pairs,
    which the tokenizers that allenai/dolma 1.2.1 installs cannot read; both read the string form."""
    path = f"{root}/tokenizer-{vocab}.json"
    if os.path.exists(path):
        return path
    from tests.helpers import train_tokenizer

    with gzip.open(sorted(glob.glob(f"{root}/documents/*.gz"))[0], "rt") as handle:
        sample = [json.loads(line)["text"] for _, line in zip(range(5000), handle, strict=False)]
    train_tokenizer(path, sample, vocab_size=vocab)
    with open(path) as handle:
        data = json.load(handle)
    data["model"]["merges"] = [" ".join(pair) for pair in data["model"]["merges"]]
    with open(path, "w") as handle:
        json.dump(data, handle)
    return path


_MEASURE = (
    "import json, resource, subprocess, sys, time\n"
    "t = time.perf_counter(); r = subprocess.run(sys.argv[1:], capture_output=True)\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "sys.stderr.buffer.write(r.stderr[-3000:])\n"
    "print(json.dumps([r.returncode, time.perf_counter() - t, u.ru_utime + u.ru_stime, u.ru_maxrss / 1024]))\n"
)

_BARE = """
import gzip, glob, json, os, resource, sys, time
os.environ["TOKENIZERS_PARALLELISM"] = "false"
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1])
texts = []
for path in sorted(glob.glob(sys.argv[2] + "/*.gz")):
    with gzip.open(path, "rt") as handle:
        texts.extend(json.loads(line)["text"].strip() for line in handle)
u0 = resource.getrusage(resource.RUSAGE_SELF); t = time.perf_counter()
tokens = 0
for i in range(0, len(texts), 10_000):
    tokens += sum(len(e.ids) + 1 for e in tok.encode_batch_fast(texts[i : i + 10_000], add_special_tokens=False))
wall = time.perf_counter() - t; u = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps([wall, u.ru_utime + u.ru_stime - u0.ru_utime - u0.ru_stime, tokens]))
"""


def timed(cmd: list[str]) -> tuple[float, float]:
    result = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True)
    code, wall, cpu, _rss = json.loads(result.stdout.strip().splitlines()[-1])
    if code != 0:
        print(result.stderr[-3000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return wall, cpu


def run_bare(tokenizer: str, root: str) -> tuple[float, float, int]:
    out = subprocess.run([sys.executable, "-c", _BARE, tokenizer, f"{root}/documents"], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    wall, cpu, tokens = json.loads(out.stdout.strip().splitlines()[-1])
    return wall, cpu, tokens


def tool_cmd(tool: str, peer: str, tokenizer: str, root: str, out: str, processes: int) -> list[str]:
    args = ["--documents", f"{root}/documents/*.gz", "--destination", out, "--tokenizer.name_or_path", tokenizer]
    args += ["--tokenizer.eos_token_id", str(EOS), "--max_size", "100000000", "--processes", str(processes)]
    if tool.startswith("dolma-1.2.1"):
        return [peer, "tokens", *args, "--tokenizer.pad_token_id", "1", "--dtype", "uint16"]
    return [sys.executable, "-m", "dolma.cli", "tokens", *args, "--overwrite", "true", "--progress", "false"]


def tokens_by_id(out: str) -> dict[str, list[int]]:
    found = {}
    for npy in glob.glob(f"{out}/*.npy"):
        array = np.memmap(npy, dtype=np.uint16, mode="r")
        with gzip.open(npy[:-4] + ".csv.gz", "rt") as handle:
            for start, end, doc_id, *_ in csv.reader(pyio.StringIO(handle.read())):
                found[doc_id] = array[int(start) : int(end)].tolist()
    return found


def check(out_ours: str, out_peer: str | None, tokenizer: str, root: str) -> str:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(tokenizer)
    ours = tokens_by_id(out_ours)
    expected = {}
    for path in sorted(glob.glob(f"{root}/documents/*.gz"))[:1]:
        with gzip.open(path, "rt") as handle:
            for line in handle:
                doc = json.loads(line)
                expected[doc["id"]] = tok.encode(doc["text"].strip(), add_special_tokens=False).ids + [EOS]
    same_bare = all(ours[k] == v for k, v in expected.items())
    text = f"ours == bare encoding + EOS for all {len(expected):,} documents of shard 0: {same_bare}"
    if out_peer:
        peer = tokens_by_id(out_peer)
        text += f"; ours == dolma 1.2.1 for all {len(ours):,} documents: {peer == ours}"
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=40)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=16000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--peer", default=os.environ.get("DOLMA_PEER_BIN", DEFAULT_PEER))
    args = parser.parse_args()
    root = f"{WORK}/{int(args.mb)}mb-{args.shards}"
    mb = make_corpus(root, args.mb, args.shards)
    tokenizer = train(root, args.vocab)
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 min)")
    print(f"corpus: {mb:,.1f} MB uncompressed JSONL in {args.shards} shards; BPE tokenizer.json, {args.vocab:,} ids")
    tools = ["ours-1p", "ours-2p"] + (["dolma-1.2.1-1p"] if os.path.exists(args.peer) else [])
    results: dict[str, list[tuple[float, float, int]]] = {"bare": [], **{t: [] for t in tools}}
    for _ in range(args.runs):
        results["bare"].append(run_bare(tokenizer, root))
        tokens = results["bare"][-1][2]
        for tool in tools:
            out = f"{root}/out-{tool}"
            shutil.rmtree(out, ignore_errors=True)
            wall, cpu = timed(tool_cmd(tool, args.peer, tokenizer, root, out, 2 if tool.endswith("2p") else 1))
            results[tool].append((wall, cpu, tokens))
    print(f"{'tool':<16}{'wall s':>8}{'MB/s':>8}{'Mtok/s':>8}{'CPU s/MB':>10}{'Mtok/s/core':>13}")
    speed: dict[str, float] = {}
    cpu_per_mb: dict[str, float] = {}
    for tool, runs in results.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        tokens = runs[0][2]
        speed[tool] = mb / wall
        cpu_per_mb[tool] = cpu / mb
        per_core = f"{tokens / cpu / 1e6:>13.2f}" if not tool.endswith("2p") else f"{'':>13}"
        print(f"{tool:<16}{wall:>8.2f}{mb / wall:>8.2f}{tokens / wall / 1e6:>8.2f}{cpu / mb:>10.3f}{per_core}")
    print(f"tokens written: {results['bare'][0][2]:,} (EOS included)")
    print(f"bare / ours (1 process) wall time: {speed['bare'] / speed['ours-1p']:.2f}x (target <= 1.3x)")
    print(f"ours (1 process) / bare CPU s per MB: {cpu_per_mb['ours-1p'] / cpu_per_mb['bare']:.2f}x (target <= 1.3x)")
    print(f"ours 2 processes / 1 process MB/s: {speed['ours-2p'] / speed['ours-1p']:.2f}x")
    if "dolma-1.2.1-1p" in speed:
        print(f"ours / dolma 1.2.1 (1 process) MB/s: {speed['ours-1p'] / speed['dolma-1.2.1-1p']:.2f}x")
    peer_out = f"{root}/out-dolma-1.2.1-1p" if "dolma-1.2.1-1p" in speed else None
    print(check(f"{root}/out-ours-1p", peer_out, tokenizer, root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
