"""MinHash quality and speed on planted near-duplicates, ours against datatrove 0.10's four-stage pipeline.

    python benchmarks/minhash_quality.py [--docs 20000] [--runs 3] [--processes 2]

The corpus: random documents (Zipf-distributed letter-only words, 100-400 words) and, for a third of them,
one copy with a fraction of its words replaced (1, 3, 5, 10 and 20% as required, plus intermediate levels
so the detection curve is sampled across Jaccard values), placed in a random shard. The true Jaccard
similarity of word 5-gram sets is recorded for every planted pair (words are lowercase letters, so both
tools' normalisation leaves them unchanged).

Quality is measured on pairs: a predicted pair is two documents in the same cluster. Pairs whose true
Jaccard lies within 0.05 of the threshold are ambiguous and left out; recall counts planted pairs with
J >= threshold + 0.05 that were found; precision counts found pairs that are planted with J >=
threshold - 0.05 (any other found pair, including unplanted ones, is a false positive).

Writes benchmarks/minhash_scurve.png: detection probability against Jaccard, with the theoretical LSH
S-curves ``1 - (1 - J^r)^b``.
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
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
WORK = HERE / "work" / "minhash"
PNG = HERE / "minhash_scurve.png"
PEER_DT_PYTHON = os.environ.get("PEER_DT_PYTHON", "/work/peers_dt/bin/python")
OUR_DOLMA = str(Path(sys.executable).parent / "dolma")
REQUIRED_LEVELS = (0.01, 0.03, 0.05, 0.10, 0.20)
CURVE_LEVELS = (0.02, 0.04, 0.06, 0.07, 0.08, 0.12, 0.15)
NGRAM = 5
THRESHOLD = 0.7


def shingles(words: list[str]) -> set[tuple[str, ...]]:
    if len(words) < NGRAM:
        return {tuple(words)}
    return {tuple(words[i : i + NGRAM]) for i in range(len(words) - NGRAM + 1)}


def jaccard(a: list[str], b: list[str]) -> float:
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb)


def make_corpus(root: Path, n_docs: int, shards: int = 8, seed: int = 0) -> list[dict]:
    """Write shards under root/documents; return the planted pairs with their true Jaccard."""
    rng = random.Random(seed)
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    vocab = sorted({"".join(rng.choices(letters, k=rng.randint(3, 10))) for _ in range(40_000)})
    cumulative = np.cumsum(1.0 / np.arange(1, len(vocab) + 1)).tolist()
    n_base = int(n_docs * 0.75)
    bases = [rng.choices(vocab, cum_weights=cumulative, k=rng.randint(100, 400)) for _ in range(n_base)]
    levels = REQUIRED_LEVELS + CURVE_LEVELS
    docs: list[tuple[str, list[str]]] = [(f"b{i}", words) for i, words in enumerate(bases)]
    pairs = []
    sources = rng.sample(range(n_base), n_docs - n_base)  # one copy per source: planted pairs are disjoint
    for i, source in enumerate(sources):
        level = levels[i % len(levels)]
        copy = list(bases[source])
        for pos in rng.sample(range(len(copy)), max(1, round(level * len(copy)))):
            copy[pos] = rng.choice(vocab)
        docs.append((f"c{i}", copy))
        pairs.append({"a": f"b{source}", "b": f"c{i}", "level": level, "jaccard": jaccard(bases[source], copy)})
    rng.shuffle(docs)
    (root / "documents").mkdir(parents=True, exist_ok=True)
    per_shard = -(-len(docs) // shards)
    for s in range(shards):
        with gzip.open(root / "documents" / f"{s:04d}.jsonl.gz", "wt", compresslevel=1) as out:
            for doc_id, words in docs[s * per_shard : (s + 1) * per_shard]:
                out.write(json.dumps({"id": doc_id, "text": " ".join(words)}) + "\n")
    (root / "pairs.json").write_text(json.dumps(pairs))
    return pairs


# ------------------------------------------------------------------------------------------- the tools


def run_ours(root: Path, processes: int, extra: dict) -> tuple[float, float, dict[str, int]]:
    """Wall, CPU, and cluster id per document id (singletons absent)."""
    shutil.rmtree(root / "attributes", ignore_errors=True)
    shutil.rmtree(root / "work", ignore_errors=True)
    cfg = {
        "documents": [str(root / "documents" / "*.jsonl.gz")],
        "dedupe": {"name": "near"},
        "minhash": {"threshold": THRESHOLD, "ngram_length": NGRAM, **extra},
        "processes": processes,
    }
    path = root / "ours.json"
    path.write_text(json.dumps(cfg))
    wall, cpu = timed([OUR_DOLMA, "dedupe", "-c", str(path)])
    clusters = {}
    for attr in sorted((root / "attributes" / "near").glob("*.jsonl.gz")):
        with gzip.open(attr, "rt") as fh:
            for line in fh:
                row = json.loads(line)
                if row["attributes"]["minhash_cluster_size"][0][2] > 1:
                    clusters[row["id"]] = int(row["attributes"]["minhash_cluster_id"][0][2])
    return wall, cpu, clusters


DATATROVE_SCRIPT = """
# datatrove's JsonlReader/JsonlWriter need orjson, which the peer virtualenv lacks: read and write with the
# standard json module in two small steps instead (a few % of datatrove's time; spacy tokenising dominates).
import glob, gzip, json, os, sys
from datatrove.data import Document
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup import MinhashDedupSignature
from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster,
    MinhashDedupFilter)

docs, work = sys.argv[1], sys.argv[2]
tasks, workers, buckets, rows = (int(a) for a in sys.argv[3:7])
config = MinhashConfig(n_grams=5, num_buckets=buckets, hashes_per_bucket=rows)

class Reader(PipelineStep):
    name = "jsonl reader"
    def run(self, data, rank=0, world_size=1):
        for path in sorted(glob.glob(f"{docs}/*.jsonl.gz"))[rank::world_size]:
            with gzip.open(path, "rt") as fh:
                for line in fh:
                    row = json.loads(line)
                    yield Document(text=row["text"], id=row["id"], metadata={})

class Writer(PipelineStep):
    name = "jsonl writer"
    def __init__(self, folder):
        super().__init__()
        self.folder = folder
        self.files = {}
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        for fh in self.files.values():
            fh.close()
    def write(self, doc, rank=0):
        if rank not in self.files:
            os.makedirs(self.folder, exist_ok=True)
            self.files[rank] = gzip.open(f"{self.folder}/{rank:05d}.jsonl.gz", "wt", compresslevel=1)
        self.files[rank].write(json.dumps({"id": doc.id, "text": doc.text, "metadata": doc.metadata}) + "\\n")
    def run(self, data, rank=0, world_size=1):
        with self:
            for doc in data:
                self.write(doc, rank)
                yield doc

def run(steps, n, w, stage):
    LocalPipelineExecutor(pipeline=steps, tasks=n, workers=w, logging_dir=f"{work}/logs/{stage}").run()

if __name__ == "__main__":  # datatrove's workers re-import this file (forkserver)
    run([Reader(), MinhashDedupSignature(output_folder=f"{work}/signatures", config=config)], tasks, workers, 1)
    run([MinhashDedupBuckets(input_folder=f"{work}/signatures", output_folder=f"{work}/buckets", config=config)],
        buckets, workers, 2)
    run([MinhashDedupCluster(input_folder=f"{work}/buckets", output_folder=f"{work}/remove_ids", config=config,
        save_cluster_id=True)], 1, 1, 3)
    run([Reader(), MinhashDedupFilter(input_folder=f"{work}/remove_ids", load_cluster_ids=True,
        exclusion_writer=Writer(f"{work}/removed")), Writer(f"{work}/output")], tasks, workers, 4)
"""


def run_datatrove(root: Path, processes: int, bands: int, rows: int) -> tuple[float, float, dict[str, int]]:
    work = root / "datatrove"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    script = work / "run.py"
    script.write_text(DATATROVE_SCRIPT)
    tasks = len(list((root / "documents").glob("*.jsonl.gz")))
    cmd = [PEER_DT_PYTHON, str(script), str(root / "documents"), str(work), str(tasks), str(processes)]
    wall, cpu = timed([*cmd, str(bands), str(rows)])
    clusters = {}
    for folder in ("output", "removed"):
        for path in sorted((work / folder).glob("*.jsonl.gz")):
            with gzip.open(path, "rt") as fh:
                for line in fh:
                    row = json.loads(line)
                    cluster = row.get("metadata", {}).get("minhash_cluster_id", -1)
                    if cluster != -1:
                        clusters[row["id"]] = int(cluster)
    return wall, cpu, clusters


def timed(cmd: list[str]) -> tuple[float, float]:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed:\n{proc.stderr[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


# ---------------------------------------------------------------------------------------------- scoring


def score(pairs: list[dict], clusters: dict[str, int], threshold: float = THRESHOLD) -> dict[str, float]:
    members: dict[int, list[str]] = defaultdict(list)
    for doc, cluster in clusters.items():
        members[cluster].append(doc)
    found = {frozenset((a, b)) for docs in members.values() for i, a in enumerate(docs) for b in docs[i + 1 :]}
    truth = {frozenset((p["a"], p["b"])): p["jaccard"] for p in pairs}
    positives = [k for k, j in truth.items() if j >= threshold + 0.05]
    tp = sum(k in found for k in positives)
    ambiguous = {k for k, j in truth.items() if threshold - 0.05 <= j < threshold + 0.05}
    counted = [k for k in found if k not in ambiguous]
    fp = sum(truth.get(k, 0.0) < threshold - 0.05 for k in counted)
    precision = (len(counted) - fp) / len(counted) if counted else 1.0
    recall = tp / len(positives) if positives else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "found_pairs": len(found), "positives": len(positives)}


def per_level(pairs: list[dict], clusters: dict[str, int]) -> dict[float, tuple[float, float]]:
    """Per edit level: (mean true Jaccard, fraction of pairs found)."""
    out = {}
    for level in REQUIRED_LEVELS:
        chosen = [p for p in pairs if p["level"] == level]
        hit = [clusters.get(p["a"], -1) == clusters.get(p["b"], -2) for p in chosen]
        out[level] = (statistics.mean(p["jaccard"] for p in chosen), sum(hit) / len(hit))
    return out


def detection_curve(pairs: list[dict], clusters: dict[str, int], bins: np.ndarray) -> np.ndarray:
    j = np.array([p["jaccard"] for p in pairs])
    hit = np.array([clusters.get(p["a"], -1) == clusters.get(p["b"], -2) for p in pairs], dtype=float)
    which = np.digitize(j, bins) - 1
    out = np.full(len(bins) - 1, np.nan)
    for i in range(len(bins) - 1):
        if (which == i).sum() >= 5:
            out[i] = hit[which == i].mean()
    return out


def plot(pairs: list[dict], curves: dict[str, tuple[dict[str, int], int, int]]) -> None:
    import matplotlib

    from dolma.dedup.signatures import detection_probability

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = np.linspace(0, 1, 41)
    centres = (bins[:-1] + bins[1:]) / 2
    fig, ax = plt.subplots(figsize=(8, 5))
    grid = np.linspace(0, 1, 200)
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    for colour, (label, (clusters, bands, rows)) in zip(colours, curves.items(), strict=False):
        ax.plot(centres, detection_curve(pairs, clusters, bins), "o", color=colour, label=f"{label} (measured)")
        theory = detection_probability(grid, bands, rows)
        ax.plot(grid, theory, "-", color=colour, alpha=0.5, label=f"S-curve b={bands}, r={rows}")
    ax.axvline(THRESHOLD, color="grey", linestyle=":", label=f"threshold {THRESHOLD}")
    ax.set_xlabel("true Jaccard similarity of word 5-gram sets")
    ax.set_ylabel("probability the pair is clustered")
    ax.set_title("Planted near-duplicates: detection vs Jaccard")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(PNG, dpi=110)
    print(f"wrote {PNG}")


# -------------------------------------------------------------------------------------------------- run


def ensure_corpus(n_docs: int) -> tuple[Path, list[dict]]:
    root = WORK / f"planted-{n_docs}"
    if not (root / "pairs.json").exists():
        shutil.rmtree(root, ignore_errors=True)
        make_corpus(root, n_docs)
    return root, json.loads((root / "pairs.json").read_text())


def our_bands(extra: dict) -> tuple[int, int]:
    from dolma.dedup.minhash import MinhashConfig, choose_bands

    return choose_bands(MinhashConfig(threshold=THRESHOLD, ngram_length=NGRAM, **extra))


def bench_against_datatrove(n_docs: int, runs: int, processes: int) -> dict[str, object]:
    root, pairs = ensure_corpus(n_docs)
    variants = {
        "ours": {},
        "ours, verify exact": {"verify": "exact"},
        "ours, no verification": {"verify": "none"},
    }
    dt_bands, dt_rows = 14, 8  # datatrove's default MinhashConfig (threshold ~0.72)
    timings: dict[str, list[tuple[float, float]]] = defaultdict(list)
    clusters: dict[str, dict[str, int]] = {}
    for _ in range(runs):
        for name, extra in variants.items():
            wall, cpu, found = run_ours(root, processes, extra)
            timings[name].append((wall, cpu))
            clusters[name] = found
        wall, cpu, found = run_datatrove(root, processes, dt_bands, dt_rows)
        timings["datatrove"].append((wall, cpu))
        clusters["datatrove"] = found
    mb = sum(os.path.getsize(p) for p in (root / "documents").glob("*.gz")) / 1e6
    print(f"\n== MinHash end to end: {n_docs:,} documents ({mb:.1f} MB gzipped), {processes} processes ==")
    print(f"{'tool':<24}{'wall s':>8}{'CPU s':>8}{'docs/s':>9}{'prec':>7}{'recall':>8}{'F1':>7}   levels 1/3/5/10/20%")
    results: dict[str, object] = {}
    for name in (*variants, "datatrove"):
        wall = statistics.median(w for w, _ in timings[name])
        cpu = statistics.median(c for _, c in timings[name])
        quality = score(pairs, clusters[name])
        levels = per_level(pairs, clusters[name])
        found = " ".join(f"{levels[lv][1]:.2f}" for lv in REQUIRED_LEVELS)
        print(
            f"{name:<24}{wall:>8.1f}{cpu:>8.1f}{n_docs / wall:>9,.0f}{quality['precision']:>7.3f}"
            f"{quality['recall']:>8.3f}{quality['f1']:>7.3f}   {found}"
        )
        results[name] = {"wall": wall, "cpu": cpu, "docs_per_s": n_docs / wall, **quality}
    mean_j = per_level(pairs, clusters["ours"])
    print("mean true Jaccard per level: " + ", ".join(f"{lv:.0%}: {mean_j[lv][0]:.3f}" for lv in REQUIRED_LEVELS))
    ratio = statistics.median(w for w, _ in timings["datatrove"]) / statistics.median(w for w, _ in timings["ours"])
    print(f"speed ratio (ours docs/s / datatrove docs/s): {ratio:.2f}x")
    results["ratio"] = ratio
    b, r = our_bands({})
    bn, rn = our_bands({})
    plot(
        pairs,
        {
            "ours (verified)": (clusters["ours"], b, r),
            "ours, no verification": (clusters["ours, no verification"], bn, rn),
            "datatrove 0.10": (clusters["datatrove"], dt_bands, dt_rows),
        },
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; load: {os.getloadavg()}")
    bench_against_datatrove(args.docs, args.runs, args.processes)
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
