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
import re
import shutil
import statistics
import subprocess
import sys
import time
import zlib
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


def run_ours(root: Path, processes: int, extra: dict, code: str | None = None) -> tuple[float, float, dict[str, int]]:
    """Wall, CPU, and cluster id per document id (singletons absent); ``code``: run the ``dolma`` package
    found in that directory instead of this checkout (for a before/after comparison)."""
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
    env = {**os.environ, "PYTHONPATH": code} if code else None
    wall, cpu = timed([OUR_DOLMA, "dedupe", "-c", str(path)], env)
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


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
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


# ------------------------------------------------------------------------------ real text, numeric tables

TRUTH_WORDS = re.compile(r"[^\W_]+")
"""The truth is defined on the text as written: lowercase words, punctuation separating them, digits kept
(tables of different numbers are different tables)."""
MAX_PAIRS_PER_CLUSTER = 2_000
"""Pairs scored per cluster; a larger cluster (unverified candidates chain hundreds of templated manual pages
together) is scored on a uniform sample of its pairs, each weighted to stand for its share."""
BUCKETS = (0.0, 0.3, 0.5, 0.6, 0.65, 0.75, 0.85, 0.95, 1.000001)
QUALITY_CONFIGS = {
    "default (digits kept)": {},
    "default, verify exact": {"verify": "exact"},
    "digits folded": {"fold_digits": True},
    "digits folded, verify none": {"fold_digits": True, "verify": "none"},
}


def truth_shingles(text: str) -> set[tuple[str, ...]]:
    return shingles(TRUTH_WORDS.findall(text.lower()))


def truth_jaccard(a: str, b: str) -> float:
    sa, sb = truth_shingles(a), truth_shingles(b)
    return len(sa & sb) / len(sa | sb) if sa | sb else 0.0


def man_page_text(raw: str) -> str:
    """A troff page as plain words: request lines dropped, font and character escapes removed."""
    lines = [line for line in raw.splitlines() if not line.startswith((".", "'"))]
    return re.sub(r"\\(f[BIRP]|f\(..|\(..|\*.|[-e&|^])", " ", "\n".join(lines))


def real_texts(rng: random.Random, count: int, words: tuple[int, int] = (80, 500)) -> list[str]:
    """Passages of real text on this machine: Python's standard library (code and docstrings), manual pages,
    and READMEs and text files under /usr/share/doc; each cut into passages of ``words`` words, exact repeats
    dropped."""
    import sysconfig

    sources = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("**/*.py"))
    # gcloud's 16,600 generated pages (of 17,900 in man1) are one template with a few words changed: left
    # out, or they would be most of the corpus and one giant natural cluster
    sources += sorted(p for p in Path("/usr/share/man").glob("man[1-8]/*.gz") if not p.name.startswith("gcloud"))
    sources += sorted(
        p for p in Path("/usr/share/doc").glob("*/*") if p.suffix in (".txt", ".md") or "README" in p.name
    )
    rng.shuffle(sources)
    seen: set[int] = set()
    out: list[str] = []
    for path in sources:
        try:
            raw = (
                gzip.open(path, "rt", errors="replace").read()
                if path.suffix == ".gz"
                else path.read_text(errors="replace")
            )
        except (OSError, EOFError):
            continue
        text = man_page_text(raw) if "/man/" in str(path) else raw
        tokens = text.split()
        start = 0
        while start + words[0] <= len(tokens) and len(out) < count:
            size = rng.randint(*words)
            passage = " ".join(tokens[start : start + size])
            start += size
            key = zlib.crc32(" ".join(TRUTH_WORDS.findall(passage.lower())).encode())
            if key not in seen:
                seen.add(key)
                out.append(passage)
        if len(out) >= count:
            break
    return out


def edit_text(text: str, fraction: float, vocab: list[str], rng: random.Random) -> str:
    """Replace, delete or insert ``fraction`` of the words (a third each)."""
    tokens = text.split()
    for _ in range(max(1, round(fraction * len(tokens)))):
        i = rng.randrange(len(tokens))
        kind = rng.random()
        if kind < 1 / 3:
            tokens[i] = rng.choice(vocab)
        elif kind < 2 / 3 and len(tokens) > 10:
            del tokens[i]
        else:
            tokens.insert(i, rng.choice(vocab))
    return " ".join(tokens)


def numeric_table(labels: list[str], columns: int, rng: random.Random) -> list[list[str]]:
    return [[label] + [f"{rng.uniform(0, 10_000):,.2f}" for _ in range(columns)] for label in labels]


def render_table(title: str, rows: list[list[str]]) -> str:
    return title + "\n" + "\n".join(" | ".join(row) for row in rows)


def make_real_corpus(root: Path, n_docs: int, seed: int = 0, shards: int = 8) -> list[dict]:
    """Real passages; a quarter of them get one planted near-copy (1-20% of words edited); plus families of
    numeric tables: tables of the same layout (title, row labels) and different numbers, each family with one
    planted near-copy (a few cells changed). Returns the planted pairs with their true Jaccard."""
    rng = random.Random(seed)
    n_tables = n_docs // 10
    n_copies = n_docs // 5
    bases = real_texts(rng, n_docs - n_tables - n_copies)
    vocab = sorted({w for text in bases[:500] for w in text.split()})
    docs = [(f"r{i}", text) for i, text in enumerate(bases)]
    pairs = []
    levels = REQUIRED_LEVELS + CURVE_LEVELS
    for i, source in enumerate(rng.sample(range(len(bases)), n_copies)):
        copy = edit_text(bases[source], levels[i % len(levels)], vocab, rng)
        docs.append((f"rc{i}", copy))
        pairs.append({"a": f"r{source}", "b": f"rc{i}", "kind": "text", "jaccard": truth_jaccard(bases[source], copy)})
    family_size = 5
    for f in range(n_tables // (family_size + 1)):
        title = " ".join(rng.sample(vocab, 8))
        labels = rng.sample(vocab, rng.randint(10, 30))
        columns = rng.randint(3, 6)
        tables = [numeric_table(labels, columns, rng) for _ in range(family_size)]
        for t, rows in enumerate(tables):
            docs.append((f"t{f}-{t}", render_table(title, rows)))
        near = [list(row) for row in tables[0]]
        for _ in range(max(1, len(near) * columns // 50)):
            near[rng.randrange(len(near))][rng.randint(1, columns)] = f"{rng.uniform(0, 10_000):,.2f}"
        docs.append((f"t{f}-near", render_table(title, near)))
        first, near_text = render_table(title, tables[0]), render_table(title, near)
        pairs.append({"a": f"t{f}-0", "b": f"t{f}-near", "kind": "table", "jaccard": truth_jaccard(first, near_text)})
    rng.shuffle(docs)
    (root / "documents").mkdir(parents=True, exist_ok=True)
    per_shard = -(-len(docs) // shards)
    texts = {}
    for s in range(shards):
        with gzip.open(root / "documents" / f"{s:04d}.jsonl.gz", "wt", compresslevel=1) as out:
            for doc_id, text in docs[s * per_shard : (s + 1) * per_shard]:
                out.write(json.dumps({"id": doc_id, "text": text}) + "\n")
                texts[doc_id] = text
    (root / "texts.json").write_text(json.dumps(texts))
    (root / "pairs.json").write_text(json.dumps(pairs))
    return pairs


def removals_justified(clusters: dict[str, int], removed: set[str], texts: dict[str, str]) -> dict[str, float]:
    """A removal is justified when the removed document is a near-duplicate of the one its cluster keeps (true
    Jaccard >= threshold + 0.05; those within 0.05 of the threshold are left out): what the corpus loses is
    then still in it. A chain A~B~C kept at A removes C even when C is far from A: that counts as an error."""
    keeper_of = {cluster: doc for doc, cluster in clusters.items() if doc not in removed}
    low, high = THRESHOLD - 0.05, THRESHOLD + 0.05
    scores = [truth_jaccard(texts[doc], texts[keeper_of[clusters[doc]]]) for doc in sorted(removed)]
    counted = [j for j in scores if not low <= j < high]
    wrong = [doc for doc, j in zip(sorted(removed), scores, strict=True) if j < low]
    return {
        "removals": len(removed),
        "removal_precision": sum(j >= high for j in counted) / len(counted) if counted else 1.0,
        "unjustified_removals": len(wrong),
        "unjustified_table_removals": sum(doc.startswith("t") for doc in wrong),
    }


def score_by_bucket(pairs: list[dict], clusters: dict[str, int], texts: dict[str, str]) -> dict[str, object]:
    """Precision over every pair the tool put in one cluster (its true Jaccard computed from the texts, so
    near-duplicates the real text already held count as found, not as errors), recall over the planted pairs;
    pairs within 0.05 of the threshold are left out of both. Also per bucket of true Jaccard: planted pairs and
    the fraction found, and found pairs."""
    members: dict[int, list[str]] = defaultdict(list)
    for doc, cluster in clusters.items():
        members[cluster].append(doc)
    truth = {tuple(sorted((p["a"], p["b"]))): p["jaccard"] for p in pairs}
    rng = random.Random(0)
    weighted: list[tuple[float, float, tuple[str, str]]] = []  # (weight, true Jaccard, pair)
    total_found = 0
    for docs in members.values():
        docs = sorted(docs)
        count = len(docs) * (len(docs) - 1) // 2
        total_found += count
        if count <= MAX_PAIRS_PER_CLUSTER:
            chosen = [(a, b) for i, a in enumerate(docs) for b in docs[i + 1 :]]
        else:  # a giant cluster: a uniform sample of its pairs, each standing for count / sample pairs
            chosen = [tuple(sorted(rng.sample(docs, 2))) for _ in range(MAX_PAIRS_PER_CLUSTER)]
        weight = count / len(chosen)
        for key in chosen:
            j = truth[key] if key in truth else truth_jaccard(texts[key[0]], texts[key[1]])
            weighted.append((weight, j, key))
    low, high = THRESHOLD - 0.05, THRESHOLD + 0.05
    counted = sum(w for w, j, _ in weighted if not low <= j < high)
    right = sum(w for w, j, _ in weighted if j >= high)
    wrong = [(w, key) for w, j, key in weighted if j < low]
    precision = right / counted if counted else 1.0
    cluster_of = clusters.get
    positives = [p for p in pairs if p["jaccard"] >= high]
    hit = [cluster_of(p["a"], -1) == cluster_of(p["b"], -2) for p in positives]
    recall = sum(hit) / len(positives) if positives else 1.0
    buckets = {}
    for lo, hi in zip(BUCKETS[:-1], BUCKETS[1:], strict=True):
        planted = [p for p in pairs if lo <= p["jaccard"] < hi]
        planted_found = sum(cluster_of(p["a"], -1) == cluster_of(p["b"], -2) for p in planted)
        buckets[f"{lo:.2f}-{min(hi, 1):.2f}"] = {
            "planted": len(planted),
            "planted_found": planted_found,
            "found_pairs": round(sum(w for w, j, _ in weighted if lo <= j < hi)),
        }
    tables = [p for p in pairs if p["kind"] == "table" and p["jaccard"] >= high]
    return {
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "found_pairs": total_found,
        "false_pairs": round(sum(w for w, _ in wrong)),
        "false_table_pairs": round(sum(w for w, k in wrong if k[0].startswith("t") and k[1].startswith("t"))),
        "table_recall": sum(cluster_of(p["a"], -1) == cluster_of(p["b"], -2) for p in tables) / max(len(tables), 1),
        "buckets": buckets,
    }


def removed_ids(root: Path) -> set[str]:
    removed = set()
    for attr in sorted((root / "attributes" / "near").glob("*.jsonl.gz")):
        with gzip.open(attr, "rt") as fh:
            for line in fh:
                row = json.loads(line)
                if row["attributes"]["minhash_duplicate"][0][2]:
                    removed.add(row["id"])
    return removed


def minhash_quality(
    n_docs: int = 8_000, processes: int = 2, configs: dict[str, dict] | None = None, baseline: str | None = None
) -> dict:
    """MinHash precision (removals justified, and pairs) and recall, overall and by bucket of true Jaccard, on
    real text from this machine with planted near-duplicates and families of numeric tables, for each of
    ``configs`` (default: today's defaults with each verification, and digit folding). With ``baseline`` (a
    directory holding the dolma package from before normalisation became configurable), that code too:
    "before" (digits folded for signatures and verification alike)."""
    root = WORK / f"real-{n_docs}"
    if not (root / "pairs.json").exists():
        shutil.rmtree(root, ignore_errors=True)
        make_real_corpus(root, n_docs)
    pairs = json.loads((root / "pairs.json").read_text())
    texts = json.loads((root / "texts.json").read_text())
    results: dict[str, object] = {"documents": len(texts), "planted_pairs": len(pairs)}
    runs = {name: (extra, None) for name, extra in (configs or QUALITY_CONFIGS).items()}
    if baseline:
        runs = {"before (old code)": ({}, baseline), **runs}
    for name, (extra, code) in runs.items():
        wall, cpu, clusters = run_ours(root, processes, extra, code)
        removals = removals_justified(clusters, removed_ids(root), texts)
        results[name] = {
            "settings": extra,
            "wall": wall,
            "cpu": cpu,
            **removals,
            **score_by_bucket(pairs, clusters, texts),
        }
    return results


def print_quality(results: dict) -> None:
    documents, planted = results["documents"], results["planted_pairs"]
    print(f"\n== MinHash quality on real text: {documents:,} documents, {planted:,} planted pairs ==")
    print(
        f"{'settings':<28}{'removals':>9}{'justified':>10}{'unjust.':>8}{'tables':>7}{'recall':>8}"
        f"{'pair prec':>10}{'table recall':>13}{'wall s':>8}"
    )
    for name, r in results.items():
        if isinstance(r, dict):
            print(
                f"{name:<28}{r['removals']:>9,}{r['removal_precision']:>10.4f}{r['unjustified_removals']:>8,}"
                f"{r['unjustified_table_removals']:>7,}{r['recall']:>8.4f}{r['precision']:>10.4f}"
                f"{r['table_recall']:>13.3f}{r['wall']:>8.1f}"
            )
    print("by true Jaccard (planted found / planted; found pairs):")
    names = [n for n, r in results.items() if isinstance(r, dict)]
    print(f"{'bucket':<12}" + "".join(f"{n[:26]:>28}" for n in names))
    for bucket in next(r for r in results.values() if isinstance(r, dict))["buckets"]:
        cells = []
        for n in names:
            b = results[n]["buckets"][bucket]
            cells.append(f"{b['planted_found']}/{b['planted']}; {b['found_pairs']}")
        print(f"{bucket:<12}" + "".join(f"{c:>28}" for c in cells))


# ---------------------------------------------------------------------------------- memory of a band task

BAND_TASK_SCRIPT = """
import json, resource, sys
import numpy as np
from dolma.dedup.bands import BandTask
from dolma.dedup.stage_files import num_rows
paths, ranges, out = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
offsets = [0]
for p in paths:
    offsets.append(offsets[-1] + num_rows(p))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
task = BandTask(tuple(range(32)), 0, ranges, tuple(paths), tuple(offsets), out, "none", 0.7, 256, 1 << 30)
task.run(lambda d, b: None)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"documents": offsets[-1], "before_kb": before, "peak_kb": after}))
"""


def band_task_memory(n_docs: int, ranges: tuple[int, ...] = (1, 4)) -> list[dict]:
    """Peak RSS of one band task holding all 32 bands, over the signature files of the planted corpus, for
    each number of hash ranges: checks the 48 bytes per (document, band) entry that task sizing assumes."""
    root, _ = ensure_corpus(n_docs)
    run_ours(root, 2, {"verify": "none"})
    paths = sorted(str(p) for p in (root / "work").glob("minhash-near/*/signatures/*.parquet"))
    out = []
    for r in ranges:
        target = root / f"edges-{r}.parquet"
        target.unlink(missing_ok=True)
        proc = subprocess.run(
            [sys.executable, "-c", BAND_TASK_SCRIPT, json.dumps(paths), str(r), str(target)],
            capture_output=True,
            text=True,
            check=True,
        )
        row = json.loads(proc.stdout)
        held = (row["peak_kb"] - row["before_kb"]) * 1024
        entries = row["documents"] * 32 / r
        row.update(ranges=r, entries=entries, bytes_per_entry=held / entries)
        print(
            f"band task, 32 bands, {r} hash range(s): {row['documents']:,} documents, {entries:,.0f} entries, "
            f"peak RSS +{held / 1e6:,.1f} MB over the imports ({held / entries:.1f} bytes per entry; sizing assumes 48)"
        )
        out.append(row)
    return out


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


def bench_against_datatrove(
    n_docs: int, runs: int, processes: int, baseline: str | None = None, peer: bool = True
) -> dict[str, object]:
    """Ours (with each verification) against datatrove, and, with ``baseline`` (a directory holding an older
    ``dolma`` package), that older code on the same corpus in the same rounds."""
    root, pairs = ensure_corpus(n_docs)
    variants: dict[str, dict] = {
        "ours": {},
        "ours, verify exact": {"verify": "exact"},
        "ours, no verification": {"verify": "none"},
    }
    code = {name: None for name in variants}
    if baseline:
        variants.update({"before": {}, "before, verify exact": {"verify": "exact"}})
        code.update({"before": baseline, "before, verify exact": baseline})
    dt_bands, dt_rows = 14, 8  # datatrove's default MinhashConfig (threshold ~0.72)
    timings: dict[str, list[tuple[float, float]]] = defaultdict(list)
    clusters: dict[str, dict[str, int]] = {}
    for _ in range(runs):
        for name, extra in variants.items():
            wall, cpu, found = run_ours(root, processes, extra, code[name])
            timings[name].append((wall, cpu))
            clusters[name] = found
        if peer:
            wall, cpu, found = run_datatrove(root, processes, dt_bands, dt_rows)
            timings["datatrove"].append((wall, cpu))
            clusters["datatrove"] = found
    mb = sum(os.path.getsize(p) for p in (root / "documents").glob("*.gz")) / 1e6
    print(f"\n== MinHash end to end: {n_docs:,} documents ({mb:.1f} MB gzipped), {processes} processes ==")
    print(f"{'tool':<24}{'wall s':>8}{'CPU s':>8}{'docs/s':>9}{'prec':>7}{'recall':>8}{'F1':>7}   levels 1/3/5/10/20%")
    results: dict[str, object] = {}
    for name in [*variants, "datatrove"] if peer else variants:
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
    if baseline:
        for name in ("ours", "ours, verify exact"):
            before = "before" + name[4:]
            wall = statistics.median(w for w, _ in timings[before]) / statistics.median(w for w, _ in timings[name])
            cpu = statistics.median(c for _, c in timings[before]) / statistics.median(c for _, c in timings[name])
            print(f"{name} vs {before}: {wall:.2f}x wall speed, {cpu:.2f}x less CPU (> 1: faster now)")
            paired = [tb[0] / tn[0] for tb, tn in zip(timings[before], timings[name], strict=True)]
            print(f"  per round (same round, back to back): {', '.join(f'{x:.2f}x' for x in paired)}")
            results[f"{name} vs before"] = {"wall": wall, "cpu": cpu, "rounds": paired}
    if not peer:
        return results
    ratio = statistics.median(w for w, _ in timings["datatrove"]) / statistics.median(w for w, _ in timings["ours"])
    print(f"speed ratio (ours docs/s / datatrove docs/s): {ratio:.2f}x")
    results["ratio"] = ratio
    b, r = our_bands({})
    plot(
        pairs,
        {
            "ours (verified)": (clusters["ours"], b, r),
            "ours, no verification": (clusters["ours, no verification"], b, r),
            "datatrove 0.10": (clusters["datatrove"], dt_bands, dt_rows),
        },
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--real", type=int, default=0, help="documents of the real-text quality set (0: skip)")
    parser.add_argument("--only-real", action="store_true", help="skip the speed comparison")
    parser.add_argument("--baseline", help="directory holding an older dolma package to run beside this one")
    parser.add_argument("--skip-peer", action="store_true", help="do not run datatrove")
    parser.add_argument("--band-memory", action="store_true", help="peak RSS of one band task, 1 and 4 ranges")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; load: {os.getloadavg()}")
    if not args.only_real:
        bench_against_datatrove(args.docs, args.runs, args.processes, args.baseline, not args.skip_peer)
    if args.band_memory:
        band_task_memory(args.docs)
    if args.real:
        print_quality(minhash_quality(args.real, args.processes, baseline=args.baseline))
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
