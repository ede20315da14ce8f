"""Benchmark: exact paragraph dedupe (Bloom filter) against allenai/dolma 1.2.1's Rust deduper, and MinHash
near-duplicate clustering against datatrove 0.10's four-stage MinHash pipeline, on the same shards and
cores, side by side in one run.

    python benchmarks/bench_dedup.py [--mb 200] [--runs 3] [--processes 2] [--only bloom|minhash]
    python benchmarks/bench_dedup.py --only bloom --before ../wt-before [--filter-gb 2]

With ``--before DIR`` (a checkout of earlier code, e.g. ``git worktree add --detach DIR 86bc18a``) the exact
part runs that code and this one side by side instead of dolma: wall, CPU per MB, the driver's peak RSS and
CPU, the largest task's peak RSS, the decide stage alone in keys per CPU-second, and how many rows' decisions
differ (the filters differ in layout, so only false positives may). ``--filter-gb`` adds a run with a filter
configured at that size, to show the driver never holds it.

Prints median wall seconds, CPU seconds per MB (the tool's processes, children included), MB/s, docs/s and
the ratios. Corpora are generated under benchmarks/work/ (gitignored). Peer tools run from their own
virtualenvs: /work/peers_dolma/bin/dolma and /work/peers_dt/bin/python.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "work" / "dedup"
PEER_DOLMA = os.environ.get("PEER_DOLMA", "/work/peers_dolma/bin/dolma")
PEER_DT_PYTHON = os.environ.get("PEER_DT_PYTHON", "/work/peers_dt/bin/python")
OUR_DOLMA = str(Path(sys.executable).parent / "dolma")


def vocabulary(size: int, rng: random.Random) -> list[str]:
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    return ["".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(size)]


_CUMULATIVE: dict[int, list[float]] = {}


def zipf_words(vocab: list[str], n: int, rng: random.Random) -> list[str]:
    """Words with Zipf frequencies, as in natural text."""
    cumulative = _CUMULATIVE.get(len(vocab))
    if cumulative is None:
        cumulative = list(itertools.accumulate(1.0 / (i + 1) for i in range(len(vocab))))
        _CUMULATIVE[len(vocab)] = cumulative
    return rng.choices(vocab, cum_weights=cumulative, k=n)


def make_paragraph_corpus(root: Path, megabytes: int, shards: int = 16, seed: int = 0) -> int:
    """Web-like documents: 3-15 paragraphs, a third of them boilerplate drawn from a shared pool (cookie
    banners, navigation), the rest unique prose. Returns the number of documents."""
    rng = random.Random(seed)
    vocab = vocabulary(30_000, rng)
    pool = [" ".join(zipf_words(vocab, rng.randint(4, 30), rng)) for _ in range(3_000)]
    target = megabytes * 1_000_000 // shards
    docs = 0
    (root / "documents").mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        written = 0
        with gzip.open(root / "documents" / f"{s:04d}.jsonl.gz", "wt", compresslevel=1) as out:
            while written < target:
                paragraphs = []
                for _ in range(rng.randint(3, 15)):
                    if rng.random() < 0.33:
                        paragraphs.append(rng.choice(pool))
                    else:
                        paragraphs.append(" ".join(zipf_words(vocab, rng.randint(10, 80), rng)))
                line = json.dumps({"id": f"{s}-{docs}", "text": "\n".join(paragraphs), "source": "bench"}) + "\n"
                out.write(line)
                written += len(line)
                docs += 1
    return docs


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed:\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def corpus_mb(root: Path) -> float:
    total = 0
    for path in sorted((root / "documents").glob("*.jsonl.gz")):
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(1 << 24):
                total += len(chunk)
    return total / 1e6


# ---------------------------------------------------------------------------------------------- bloom


def bloom_config(root: Path, processes: int, docs: int, filter_file: Path) -> Path:
    cfg = {
        "documents": [str(root / "documents" / "*.jsonl.gz")],
        "dedupe": {"name": "bench", "paragraphs": {"attribute_name": "bff_duplicate_paragraph_spans"}},
        "bloom_filter": {
            "file": str(filter_file),
            "read_only": False,
            "estimated_doc_count": docs * 10,
            "desired_false_positive_rate": 1e-4,
        },
        "processes": processes,
    }
    path = root / f"bloom-{filter_file.stem}.json"
    path.write_text(json.dumps(cfg))
    return path


def reset(root: Path, filter_file: Path) -> None:
    shutil.rmtree(root / "attributes", ignore_errors=True)
    for leftover in (filter_file, Path(str(filter_file) + ".work"), Path(str(filter_file) + ".parts")):
        if leftover.is_dir():
            shutil.rmtree(leftover)
        elif leftover.exists():
            leftover.unlink()


def attribute_agreement(root: Path) -> tuple[int, int]:
    """(documents whose span lists are equal between the two tools, documents compared). The two keep the
    same first occurrences only when dolma's threads happen to run shards in order, so this is a sanity
    check on the totals, not an equality test."""
    same = total = 0
    for ours in sorted((root / "attributes" / "bench").glob("*.jsonl.gz")):
        theirs = root / "attributes" / "bench-dolma" / ours.name
        if not theirs.exists():
            continue
        with gzip.open(ours, "rt") as a, gzip.open(theirs, "rt") as b:
            for la, lb in zip(a, b, strict=True):
                sa = json.loads(la)["attributes"].get("bff_duplicate_paragraph_spans", [])
                sb = json.loads(lb)["attributes"].get("bff_duplicate_paragraph_spans", [])
                same += [s[:2] for s in sa] == [s[:2] for s in sb]
                total += 1
    return same, total


def bench_bloom(root: Path, runs: int, processes: int, docs: int) -> dict[str, object]:
    mb = corpus_mb(root)
    ours_filter, dolma_filter = root / "ours.bin", root / "dolma.bin"
    ours_cfg = bloom_config(root, processes, docs, ours_filter)
    dolma_cfg = bloom_config(root, processes, docs, dolma_filter)
    results: dict[str, list[tuple[float, float]]] = {"ours": [], "dolma": []}
    for _ in range(runs):
        reset(root, ours_filter)
        results["ours"].append(timed([OUR_DOLMA, "dedupe", "-c", str(ours_cfg)]))
        kept = root / "attributes" / "bench"
        shutil.move(str(kept), str(root / "ours-attributes"))
        reset(root, dolma_filter)
        results["dolma"].append(timed([PEER_DOLMA, "-c", str(dolma_cfg), "dedupe"]))
        shutil.move(str(root / "attributes" / "bench"), str(root / "attributes" / "bench-dolma"))
        shutil.move(str(root / "ours-attributes"), str(kept))
    same, total = attribute_agreement(root)
    extra = {
        "rows identical to dolma's (2 processes; dolma's threads pick which copy is first)": f"{same}/{total}",
        "with 1 process each on two shards (dolma deterministic)": single_process_agreement(root, docs),
    }
    return summarise("bloom paragraph dedupe", results, mb, docs, extra=extra)


def single_process_agreement(root: Path, docs: int) -> str:
    """Run both tools with one process on the first two shards: dolma is deterministic then, and its spans
    should equal ours row for row."""
    small = root.parent / (root.name + "-compat")
    shutil.rmtree(small, ignore_errors=True)
    (small / "documents").mkdir(parents=True)
    for shard in sorted((root / "documents").glob("*.jsonl.gz"))[:2]:
        shutil.copy(shard, small / "documents" / shard.name)
    timed([OUR_DOLMA, "dedupe", "-c", str(bloom_config(small, 1, docs, small / "ours.bin"))])
    shutil.move(str(small / "attributes" / "bench"), str(small / "ours-attributes"))
    timed([PEER_DOLMA, "-c", str(bloom_config(small, 1, docs, small / "dolma.bin")), "dedupe"])
    shutil.move(str(small / "attributes" / "bench"), str(small / "attributes" / "bench-dolma"))
    shutil.move(str(small / "ours-attributes"), str(small / "attributes" / "bench"))
    same, total = attribute_agreement(small)
    return f"{same}/{total} rows with identical spans"


def summarise(title: str, results: dict[str, list[tuple[float, float]]], mb: float, docs: int, extra=None):
    out: dict[str, object] = {"title": title, "mb": mb, "docs": docs}
    print(f"\n== {title}: {mb:,.0f} MB, {docs:,} documents ==")
    print(f"{'tool':<10}{'wall s (median)':>18}{'CPU s/MB':>12}{'MB/s':>10}{'docs/s':>12}   runs (wall)")
    medians = {}
    for tool, samples in results.items():
        wall = statistics.median(w for w, _ in samples)
        cpu = statistics.median(c for _, c in samples)
        medians[tool] = wall
        out[tool] = {"wall": wall, "cpu_per_mb": cpu / mb, "mb_per_s": mb / wall, "docs_per_s": docs / wall}
        runs = ", ".join(f"{w:.1f}" for w, _ in samples)
        print(f"{tool:<10}{wall:>18.2f}{cpu / mb:>12.4f}{mb / wall:>10.1f}{docs / wall:>12,.0f}   {runs}")
    tools = list(results)
    ratio = medians[tools[1]] / medians[tools[0]]
    out["ratio"] = ratio
    print(f"ratio ({tools[0]} speed / {tools[1]} speed): {ratio:.2f}x")
    for key, value in (extra or {}).items():
        print(f"{key}: {value}")
        out[key] = value
    return out


# ------------------------------------------------------------------------- exact dedup: before vs after


class TreeMonitor:
    """Samples a process and its descendants from /proc every 20 ms: the driver's peak RSS and CPU seconds,
    and each descendant's peak RSS (the tasks run in the executor's worker processes)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.driver_rss = 0
        self.driver_cpu = 0.0
        self.task_rss: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    @staticmethod
    def _status(pid: int) -> tuple[int, int, float]:
        """(parent pid, peak RSS bytes, CPU seconds) of ``pid``."""
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/status") as fh:
            hwm = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM"))
        ticks = os.sysconf("SC_CLK_TCK")
        return int(fields[1]), hwm, (int(fields[11]) + int(fields[12])) / ticks

    def _loop(self) -> None:
        while not self._stop.is_set():
            parents: dict[int, int] = {}
            stats: dict[int, tuple[int, float]] = {}
            for entry in os.listdir("/proc"):
                if entry.isdigit():
                    try:
                        ppid, hwm, cpu = self._status(int(entry))
                    except (OSError, StopIteration, IndexError):
                        continue
                    parents[int(entry)] = ppid
                    stats[int(entry)] = (hwm, cpu)
            if self.pid in stats:
                self.driver_rss, self.driver_cpu = stats[self.pid]
            for pid, (hwm, _) in stats.items():
                ancestor = parents.get(pid)
                while ancestor and ancestor != self.pid:
                    ancestor = parents.get(ancestor)
                if ancestor == self.pid:
                    self.task_rss[pid] = max(self.task_rss.get(pid, 0), hwm)
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def monitored(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """Wall and CPU seconds of the whole run, the driver's peak RSS and CPU, the largest task's peak RSS.
    Runs in WORK, so the code on PYTHONPATH is imported, not a checkout in the current directory."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=WORK, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    monitor = TreeMonitor(proc.pid)
    _, err = proc.communicate()
    monitor.stop()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed:\n{err[-3000:]}")
    return {
        "wall": wall,
        "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "driver_rss": monitor.driver_rss / 2**20,
        "driver_cpu": monitor.driver_cpu,
        "task_rss": max(monitor.task_rss.values(), default=0) / 2**20,
    }


DECIDE_BEFORE = """
import sys, time, glob, numpy as np
from dolma.dedup.exact import KeyTask, KeySpec, load_arrays, save_arrays
from dolma.dedup.bloom import BloomFilter, plan_size
docs, work, est = sys.argv[1], sys.argv[2], int(sys.argv[3])
spec = KeySpec(mode="paragraphs", attribute_name="p")
paths = sorted(glob.glob(docs))
keys = [f"{work}/k{i}.arrays" for i in range(len(paths))]
for path, key in zip(paths, keys):
    KeyTask(path, key, spec).run(lambda d, b: None)
bits, k = plan_size(0, est, 1e-4, 0)
bloom = BloomFilter.empty(bits, k)
n = 0
cpu = time.process_time()
for i, key in enumerate(keys):  # the driver's decide loop: load, test-then-insert, keep the flags
    hashes = load_arrays(key)["hashes"]
    dup = bloom.test_and_insert(hashes)
    save_arrays(f"{work}/d{i}.arrays", {"dup": np.packbits(dup)})
    n += len(hashes)
print(n, time.process_time() - cpu)
"""

DECIDE_AFTER = """
import sys, time, glob
from dolma.dedup.exact import KeyTask, DecideTask
from dolma.dedup.exact_keys import KeySpec
from dolma.dedup.bloom import plan_size, default_partitions
docs, work, est = sys.argv[1], sys.argv[2], int(sys.argv[3])
spec = KeySpec(mode="paragraphs", attribute_name="p")
paths = sorted(glob.glob(docs))
bits, k = plan_size(0, est, 1e-4, 0)
parts = default_partitions(bits)
keys = [f"{work}/k{i}.arrays" for i in range(len(paths))]
for path, key in zip(paths, keys):
    KeyTask(path, key, spec, parts).run(lambda d, b: None)
n = 0
cpu = time.process_time()
for p in range(parts):  # every decide task, one after another in this process
    per_part = -(-bits // parts // 64) * 64
    task = DecideTask(p, parts, tuple(keys), f"{work}/f{p}.arrays", None, f"{work}/p{p}.bits", per_part, k)
    n += task.run(lambda d, b: None).counters["keys_decided"]
print(n, time.process_time() - cpu)
"""


def decide_rate(code: Path, script: str, root: Path, docs: int) -> tuple[int, float]:
    """(keys, CPU seconds) of the decide stage alone, in one process of ``code``."""
    work = root / "decide-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(code)}
    cmd = [sys.executable, "-c", script, str(root / "documents" / "*.jsonl.gz"), str(work), str(docs * 10)]
    out = subprocess.run(cmd, env=env, cwd=WORK, capture_output=True, text=True, check=True).stdout.split()
    shutil.rmtree(work, ignore_errors=True)
    return int(out[0]), float(out[1])


def row_differences(root: Path, a: str, b: str) -> tuple[int, int, int]:
    """(rows whose spans differ, spans only in a, spans only in b) between two attribute directories."""
    rows = only_a = only_b = 0
    for path in sorted((root / "attributes" / a).glob("*.jsonl.gz")):
        with gzip.open(path, "rt") as fa, gzip.open(root / "attributes" / b / path.name, "rt") as fb:
            for la, lb in zip(fa, fb, strict=True):
                sa = {tuple(s) for s in json.loads(la)["attributes"].get("bff_duplicate_paragraph_spans", [])}
                sb = {tuple(s) for s in json.loads(lb)["attributes"].get("bff_duplicate_paragraph_spans", [])}
                rows += sa != sb
                only_a += len(sa - sb)
                only_b += len(sb - sa)
    return rows, only_a, only_b


def bench_exact_before_after(root: Path, before: Path, runs: int, processes: int, docs: int) -> None:
    """Today's code against the code at ``before`` (a checkout), alternating, on the same corpus."""
    after = HERE.parent
    mb = corpus_mb(root)
    filter_file = root / "ba.bin"
    cfg = bloom_config(root, processes, docs, filter_file)
    samples: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    for _ in range(runs):
        for name, code in (("before", before), ("after", after)):
            reset(root, filter_file)
            env = {**os.environ, "PYTHONPATH": str(code)}
            samples[name].append(monitored([sys.executable, "-m", "dolma.cli", "dedupe", "-c", str(cfg)], env))
            shutil.rmtree(root / "attributes" / f"bench-{name}", ignore_errors=True)
            shutil.move(str(root / "attributes" / "bench"), str(root / "attributes" / f"bench-{name}"))
    print(f"\n== exact dedupe, before ({before}) vs after: {mb:,.0f} MB, {docs:,} documents, {processes} processes ==")
    print(
        f"{'code':<8}{'wall s':>9}{'CPU s/MB':>10}{'driver RSS MB':>15}{'driver CPU s':>14}{'largest task RSS MB':>21}"
    )
    for name, rows in samples.items():
        med = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
        print(
            f"{name:<8}{med['wall']:>9.2f}{med['cpu'] / mb:>10.4f}{med['driver_rss']:>15.0f}{med['driver_cpu']:>14.2f}"
            f"{med['task_rss']:>21.0f}"
        )
    for name, code, script in (("before", before, DECIDE_BEFORE), ("after", after, DECIDE_AFTER)):
        keys, cpu = decide_rate(code, script, root, docs)
        print(f"decide stage, {name}: {keys:,} keys in {cpu:.2f} CPU s = {keys / cpu / 1e6:.2f} M keys per CPU-second")
    rows, only_before, only_after = row_differences(root, "bench-before", "bench-after")
    print(f"decisions: {rows} of {docs:,} rows differ; spans only before {only_before}, only after {only_after}")


def bench_big_filter(root: Path, gigabytes: float, processes: int, docs: int) -> None:
    """A filter configured at ``gigabytes``: the driver's peak RSS must stay small (nothing of it loaded)."""
    filter_file = root / "big.bin"
    cfg = json.loads(bloom_config(root, processes, docs, filter_file).read_text())
    cfg["bloom_filter"] = {"file": str(filter_file), "size_in_bytes": int(gigabytes * 2**30)}
    path = root / "bloom-big.json"
    path.write_text(json.dumps(cfg))
    reset(root, filter_file)
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    result = monitored([sys.executable, "-m", "dolma.cli", "dedupe", "-c", str(path)], env)
    parts = sorted(Path(str(filter_file) + ".parts").glob("*.bits"))
    reset(root, filter_file)
    print(
        f"\n== a {gigabytes:g} GiB filter ({len(parts)} parts): wall {result['wall']:.1f} s, driver peak RSS "
        f"{result['driver_rss']:.0f} MB, driver CPU {result['driver_cpu']:.2f} s, largest task "
        f"{result['task_rss']:.0f} MB =="
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=200, help="uncompressed corpus size for the Bloom benchmark")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--only", choices=["bloom", "minhash"], default=None)
    parser.add_argument("--minhash-docs", type=int, default=20_000)
    parser.add_argument("--baseline", help="directory holding an older dolma package: MinHash before and after")
    parser.add_argument("--skip-peer", action="store_true", help="MinHash: do not run datatrove")
    parser.add_argument("--before", type=Path, help="a checkout of earlier code: exact dedupe before vs after")
    parser.add_argument("--filter-gb", type=float, default=0, help="also run with a filter of this many GiB")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; load: {os.getloadavg()}")
    if args.only in (None, "bloom"):
        root = WORK / f"bloom-{args.mb}mb"
        marker = root / "docs.txt"
        if not marker.exists():
            shutil.rmtree(root, ignore_errors=True)
            marker.parent.mkdir(parents=True, exist_ok=True)
            docs = make_paragraph_corpus(root, args.mb)
            marker.write_text(str(docs))
        if args.before:
            bench_exact_before_after(root, args.before, args.runs, args.processes, int(marker.read_text()))
        else:
            bench_bloom(root, args.runs, args.processes, int(marker.read_text()))
        if args.filter_gb:
            bench_big_filter(root, args.filter_gb, args.processes, int(marker.read_text()))
    if args.only in (None, "minhash"):
        from minhash_quality import bench_against_datatrove  # noqa: PLC0415 - sibling script

        bench_against_datatrove(args.minhash_docs, args.runs, args.processes, args.baseline, not args.skip_peer)
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
