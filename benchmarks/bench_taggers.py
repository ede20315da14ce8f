"""Tagging speed, ours vs allenai/dolma 1.2.1, with the same set of taggers on the same shards and processes:
gopher + c4 + pii + language ID + whitespace length.

    python benchmarks/bench_taggers.py [--corpus benchmarks/work/tagger_corpus] [--processes 2] [--runs 3]

dolma runs ``gopher_v1 c4_v2 pii_regex_v2 ft_lang_id_en_doc_v2 whitespace_tokenizer_v1``. Its fastText
taggers download ``lid.176.bin`` when they start, which cannot happen here, so a two-line plugin (written to
the work directory as a package, passed with ``--tagger_modules``) subclasses ``ft_lang_id_en_doc_v2`` unchanged except
for ``MODEL_PATH``, pointing it at the same ``lid.176.ftz`` our ``language`` tagger bundles. We run
``gopher gopher_repetition c4 pii language whitespace_tokenizer`` (c4 with dolma's bad-word list, so both do
the same work; language with ``languages: [en]`` as dolma's en-doc tagger; whitespace words per document).

Each round runs both tools one after the other (the order alternates), so load on this shared machine falls
on both; the script prints the median over rounds of wall time, documents/s, MB/s and CPU seconds per MB
(the workers' user+system time), and the ratio ours/dolma. ``--per-tagger`` instead times each tagger's
predict loop over one shard in each tool's own process, to show where the difference comes from;
``--breakdown`` times our whole tag task over one shard in process, per tagger, to show where a real run's time
goes.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEER = os.environ.get("DOLMA_PEER", "/work/peers_dolma")
PEER_DOLMA = os.path.join(PEER, "bin", "dolma")
LID_MODEL = os.path.join(ROOT, "taggers", "resources", "lid.176.ftz")

PLUGIN = """from dolma import add_tagger
from dolma.taggers.language import FastTextEnglishLanguageDocumentTagger


@add_tagger("ft_lang_id_en_doc_v2_local")
class LocalModel(FastTextEnglishLanguageDocumentTagger):
    MODEL_PATH = {model!r}
"""


PER_TAGGER_DOLMA = """
import gzip, json, sys, time
from dolma.core.data_types import Document
from dolma.core.registry import TaggerRegistry
from dolma.taggers.language import FastTextEnglishLanguageDocumentTagger
import dolma.taggers  # registers the built-in taggers

class LocalModel(FastTextEnglishLanguageDocumentTagger):
    MODEL_PATH = {model!r}

docs = [Document(source=r.get("source") or "", id=r["id"], text=r["text"])
        for r in map(json.loads, gzip.open({shard!r}, "rt"))]
for name in {names!r}:
    tagger = LocalModel() if name == "ft_lang_id_en_doc_v2" else TaggerRegistry.get(name)()
    started = time.process_time()
    for doc in docs:
        tagger.predict(doc)
    print(name, time.process_time() - started, flush=True)
"""
DOLMA_TAGGERS = ["gopher_v1", "c4_v2", "pii_regex_v2", "ft_lang_id_en_doc_v2", "whitespace_tokenizer_v1"]
OURS_FOR = {
    "gopher_v1": ["gopher", "gopher_repetition"],
    "c4_v2": ["c4"],
    "pii_regex_v2": ["pii"],
    "ft_lang_id_en_doc_v2": ["language"],
    "whitespace_tokenizer_v1": ["whitespace_tokenizer"],
}


def per_tagger(shard: str, params: dict[str, dict], runs: int) -> None:
    """CPU seconds of each tagger's predict loop over one shard (decoded once, outside the timing), in each
    tool's own process: where the difference comes from."""
    import gzip

    sys.path.insert(0, ROOT)
    from dolma import Document, registry

    docs = [Document(id=r["id"], text=r["text"]) for r in map(json.loads, gzip.open(shard, "rt"))]
    script = PER_TAGGER_DOLMA.format(model=LID_MODEL, shard=shard, names=DOLMA_TAGGERS)
    theirs: dict[str, list[float]] = {}
    ours: dict[str, list[float]] = {}
    for _ in range(runs):
        peer = [os.path.join(PEER, "bin", "python"), "-P", "-c", script]  # -P: not our dolma/ from the cwd
        out = subprocess.run(peer, capture_output=True, text=True)
        for line in out.stdout.splitlines():
            name, seconds = line.split()
            theirs.setdefault(name, []).append(float(seconds))
        for names in OURS_FOR.values():
            taggers = [registry.instance(n, params.get(n, {})) for n in names]
            started = time.process_time()
            for tagger in taggers:  # as dolma tag runs them: each tagger over a batch, then the next
                for i in range(0, len(docs), 256):
                    tagger.predict_batch(docs[i : i + 256])
            ours.setdefault("+".join(names), []).append(time.process_time() - started)
    mb = os.path.getsize(shard) and sum(len(d.text.encode()) for d in docs) / 1e6
    print(
        f"\nper tagger, predict loops only, one shard ({len(docs)} documents, {mb:.1f} MB of text), median of {runs}:"
    )
    print(f"{'dolma tagger':<26} {'CPU s':>7} {'ours':<34} {'CPU s':>7} {'ratio':>6}")
    for name, names in OURS_FOR.items():
        mine = statistics.median(ours["+".join(names)])
        their = statistics.median(theirs.get(name, [float("nan")]))
        print(f"{name:<26} {their:>7.2f} {'+'.join(names):<34} {mine:>7.2f} {their / mine:>5.1f}x")


def breakdown(shard: str, taggers: list, runs: int) -> None:
    """Our whole tag task over one shard in this process, as a worker runs it (all taggers, shared word
    splits, reading and writing), with each tagger's ``predict_batch`` timed: where a real run's time goes."""
    sys.path.insert(0, ROOT)
    from dolma import registry
    from dolma.tagging import AttributeOutput, TagTask, tagger_specs

    specs = tagger_specs(taggers)
    out = os.path.join(os.path.dirname(os.path.dirname(shard)), "breakdown.jsonl.gz")
    rows: list[dict[str, float]] = []
    make = registry.instance
    for _ in range(runs):
        spent: dict[str, float] = {}

        def timed_instance(name: str, params: dict, spent: dict[str, float] = spent) -> Any:
            tagger = make(name, params)
            predict = tagger.predict_batch

            def predict_batch(docs: Any) -> Any:
                started = time.process_time()
                result = predict(docs)
                spent[name] = spent.get(name, 0.0) + time.process_time() - started
                return result

            tagger.predict_batch = predict_batch  # type: ignore[method-assign]
            return tagger

        registry.instance = timed_instance  # type: ignore[assignment]
        if os.path.exists(out):
            os.remove(out)
        started = time.process_time()
        TagTask(shard, (AttributeOutput(out, "ours", specs),)).run(lambda *args: None)
        total = time.process_time() - started
        registry.instance = make
        rows.append({**spent, "rest (read, tagger set-up, encode, write)": total - sum(spent.values()), "total": total})
    print(f"\nour tag task over one shard in one process, CPU s, median of {runs} (each run a fresh set of taggers):")
    for name in rows[0]:
        print(f"{name:<44} {statistics.median(r[name] for r in rows):>6.2f}")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], cwd: str, env: dict[str, str] | None = None) -> tuple[float, float]:
    cpu, wall = children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - wall, children_cpu() - cpu


def corpus_size(documents: str) -> tuple[int, int]:
    import gzip

    docs = nbytes = 0
    for path in glob.glob(os.path.join(documents, "*.jsonl.gz")):
        with gzip.open(path, "rb") as fh:
            for line in fh:
                docs += 1
                nbytes += len(line)
    return docs, nbytes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=os.path.join(HERE, "work", "tagger_corpus"))
    parser.add_argument("--work", default=os.path.join(HERE, "work", "bench_taggers"))
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--per-tagger", action="store_true", help="instead, time each tagger's predict loop alone, in process"
    )
    parser.add_argument(
        "--breakdown", action="store_true", help="instead, time our whole tag task over one shard, per tagger"
    )
    args = parser.parse_args()
    if not os.path.exists(PEER_DOLMA):
        print(f"SKIP: allenai/dolma 1.2.1 is not installed at {PEER} (set DOLMA_PEER); nothing measured")
        return 0
    if not glob.glob(os.path.join(args.corpus, "documents", "*.jsonl.gz")):
        subprocess.run([sys.executable, os.path.join(HERE, "make_tagger_corpus.py"), "--out", args.corpus], check=True)
    shutil.rmtree(args.work, ignore_errors=True)
    shutil.copytree(os.path.join(args.corpus, "documents"), os.path.join(args.work, "documents"))
    plugin = os.path.abspath(os.path.join(args.work, "dolma_local_lid"))  # dolma 1.2.1 imports plugin packages
    os.makedirs(plugin)
    with open(os.path.join(plugin, "__init__.py"), "w") as fh:
        fh.write(PLUGIN.format(model=LID_MODEL))
    naughty = glob.glob(os.path.join(PEER, "lib", "python3*", "site-packages", "dolma", "data", "naughty_words_en.txt"))
    config = {
        "documents": ["documents/*.jsonl.gz"],
        "experiment": "ours",
        "processes": args.processes,
        "taggers": [
            "gopher",
            "gopher_repetition",
            {"c4": {"bad_words_path": naughty[0]}},
            "pii",
            {"language": {"languages": ["en"]}},
            {"whitespace_tokenizer": {"paragraphs": False}},
        ],
    }
    with open(os.path.join(args.work, "ours.json"), "w") as fh:
        json.dump(config, fh)
    commands = {
        "dolma 1.2.1": [PEER_DOLMA, "tag", "--documents", "documents/*.jsonl.gz", "--experiment", "ref"]
        + ["--tagger_modules", plugin, "--processes", str(args.processes), "--taggers"]
        + ["gopher_v1", "c4_v2", "pii_regex_v2", "ft_lang_id_en_doc_v2_local", "whitespace_tokenizer_v1"],
        "ours": [sys.executable, "-m", "dolma.cli", "tag", "-c", "ours.json"],
    }
    # ours runs the code of this checkout (not whatever is installed); dolma must not see it on its path
    envs = {"dolma 1.2.1": None, "ours": {**os.environ, "PYTHONPATH": ROOT}}
    first_shard = sorted(glob.glob(os.path.join(args.work, "documents", "*.jsonl.gz")))[0]
    if args.breakdown:
        breakdown(first_shard, config["taggers"], args.runs)
        return 0
    if args.per_tagger:
        params = {name: spec for entry in config["taggers"] if isinstance(entry, dict) for name, spec in entry.items()}
        per_tagger(first_shard, params, args.runs)
        return 0
    docs, nbytes = corpus_size(os.path.join(args.work, "documents"))
    mb = nbytes / 1e6
    print(f"corpus: {docs} documents, {mb:.1f} MB, {args.processes} processes, {args.runs} rounds")
    print(f"load before: {os.getloadavg()}")
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for round_no in range(args.runs):
        names = list(commands) if round_no % 2 == 0 else list(reversed(commands))
        for name in names:
            shutil.rmtree(os.path.join(args.work, "attributes"), ignore_errors=True)
            wall, cpu = timed(commands[name], args.work, envs[name])
            results[name].append((wall, cpu))
            print(f"round {round_no + 1} {name}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
    print(f"load after: {os.getloadavg()}")
    print(f"\n{'tool':<12} {'wall s':>8} {'docs/s':>8} {'MB/s':>7} {'CPU s/MB':>9}")
    medians = {}
    for name, runs in results.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        medians[name] = (wall, cpu)
        print(f"{name:<12} {wall:>8.1f} {docs / wall:>8.0f} {mb / wall:>7.2f} {cpu / mb:>9.3f}")
    (d_wall, d_cpu), (o_wall, o_cpu) = medians["dolma 1.2.1"], medians["ours"]
    print(f"\nours / dolma: {d_wall / o_wall:.1f}x documents/s, {d_cpu / o_cpu:.1f}x less CPU per MB (target >= 5x)")
    # the two tools ran back to back in each round, so a round's ratio cancels most of the machine's load swings
    pairs = list(zip(results["dolma 1.2.1"], results["ours"], strict=True))
    for what, index in (("documents/s", 0), ("less CPU:  ", 1)):
        ratios = [d[index] / o[index] for d, o in pairs]
        shown = " ".join(f"{r:.1f}x" for r in ratios)
        print(f"per round, {what}: {shown} (median {statistics.median(ratios):.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
