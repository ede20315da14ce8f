"""allenai/dolma's own configs through dolma 1.2.1 and through us, unchanged but for paths, and dolma's own
expected-output tests against our outputs.

    git -C <mirror of allenai/dolma> worktree add /tmp/dolma-v1.2.1 v1.2.1   (or git archive of configs, tests, docs)
    python benchmarks/compat_dolma_configs.py /tmp/dolma-v1.2.1 [--only SUBSTRING] [--keep DIR]

Nothing is downloaded: the checkout is a local path and dolma 1.2.1 runs from its own virtualenv
(``DOLMA_PEER``, default /work/peers_dolma).

Part 1, every config under ``configs/``, ``tests/config/`` and ``docs/examples/`` (YAML or JSON; the
``dolma2-resharding`` files configure another tool and are listed as such). The command is read from the
keys (``streams``: mix, ``dedupe``: dedupe, ``taggers``: tag, ``tokenizer``: tokens). Only paths are
rewritten, to fixtures: documents to dolma's ``tests/data/provided`` documents, outputs, work directories
and Bloom filter files to a scratch directory per tool. A mixer config's attribute experiments are
dolma's provided attribute files where they exist, else fixture files that hold every attribute name the
config's filters and span rules read, sparse as dolma writes them (present on about half of the rows, with
seeded scores and spans), the same files for both tools. Both tools run the config with
``dolma -c <config> <command>``; outputs are identical when the documents (mix, compared as sorted JSON
objects) or attribute rows (tag, dedupe) are equal. A mix or dedupe that differs is rerun with ``--compat
dolma-1.2`` (dolma's numeric comparison, shard names and dedupe row shapes); if that one is identical, the
table says so.

Part 2, dolma's own tests: each ``tests/config`` config with an expected output in ``tests/data/expected``
runs from a copy of the checkout (its relative paths unchanged, with ``compat: dolma-1.2``), and our output
file (named as dolma's test names it) is compared as dolma's test compares it (mixer: documents equal after
removing ``metadata.provenance``; dedupe: ids, attribute keys and spans).

Prints both tables and the totals: parses / runs / identical, with the reason for every other row.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from dolma.mixers.filters import compile_expression, compile_path  # noqa: E402

PEER = os.environ.get("DOLMA_PEER", "/work/peers_dolma")
TIMEOUT = int(os.environ.get("COMPAT_TIMEOUT", "300"))
DOCS = "tests/data/provided/documents/000.json.gz"
DEDUPE_DOCS = "tests/data/provided/deduper/documents/000.json.gz"
PROVIDED_ATTRIBUTES = "tests/data/provided/attributes"
TOOLS = ("dolma", "ours")
EXPECTED = {
    # dolma's tests/python: config -> (expected file, our output relative to the run directory, kind)
    "email-spans.json": ("email-spans.json.gz", "tests/work/output/email-spans/email-spans-0000.json.gz", "mix"),
    "email-spans-jq.yaml": (
        "email-spans-jq.json.gz",
        "tests/work/output/email-spans-jq/email-spans-jq-0000.json.gz",
        "mix",
    ),
    "filter-by-spans.json": (
        "filter-by-spans.json.gz",
        "tests/work/output/filter-by-spans/filter-by-spans-test-0000.json.gz",
        "mix",
    ),
    "mixer.json": ("mixer.json.gz", "tests/work/output/mixer/mixer-test-0000.json.gz", "mix"),
    "paragraph-spans.json": (
        "remove-paragraphs.json.gz",
        "tests/work/output/paragraph-spans/paragraph-spans-test-0000.json.gz",
        "mix",
    ),
    "dedupe-by-url.json": (
        "dedupe-by-url.json.gz",
        "tests/data/provided/deduper/attributes/dedupe_by_url/000.json.gz",
        "dedupe",
    ),
    "dedupe-paragraphs.json": (
        "dedupe-paragraphs.json.gz",
        "tests/data/provided/deduper/attributes/dedupe_paragraphs/000.json.gz",
        "dedupe",
    ),
    "dedupe-paragraph-ngrams.json": (
        "dedupe-paragraph-ngrams.json.gz",
        "tests/data/provided/deduper/attributes/dedupe_paragraph_ngrams/000.json.gz",
        "dedupe",
    ),
}


# ---------------------------------------------------------------------------------------------- helpers


def load_config(path: str) -> Any:
    with open(path) as fh:
        return json.load(fh) if path.endswith(".json") else yaml.safe_load(fh)


def read_jsonl(path: str) -> list[dict[str, Any]]:
    opener: Any = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def command_of(config: Any) -> str | None:
    if not isinstance(config, dict):
        return None
    if "streams" in config:
        return "mix"
    if "dedupe" in config:
        return "dedupe"
    if "taggers" in config:
        return "tag"
    if "tokenizer" in config or "tokenizer_name_or_path" in config:  # the latter: dolma's deprecated key
        return "tokens"
    return None


def run_tool(tool: str, config_path: str, command: str, cwd: str, extra: tuple[str, ...] = ()) -> tuple[bool, str]:
    if tool == "dolma":
        cmd = [os.path.join(PEER, "bin", "dolma"), "-c", config_path, command]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    else:
        cmd = [sys.executable, "-m", "dolma.cli", "-c", config_path, command, *extra]
        env = {**os.environ, "PYTHONPATH": ROOT}
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, env=env)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {TIMEOUT} s"
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    return proc.returncode == 0, (lines[-1] if lines else f"exit {proc.returncode}")[:160]


# --------------------------------------------------------------------------------------- fixtures: mix


def read_names(stream: dict[str, Any]) -> set[str]:
    """Attribute names a stream's filters and span rules read (through our own parser)."""
    names: set[str] = set()
    flt = stream.get("filter") or {}
    syntax = flt.get("syntax", "jsonpath")
    for text in (flt.get("include") or []) + (flt.get("exclude") or []):
        try:
            names |= compile_expression(text, syntax).attribute_names
        except Exception:  # noqa: BLE001 - a config that does not parse is reported by the run itself
            continue
    for rule in stream.get("span_replacement") or []:
        try:
            names |= compile_path(rule["span"]).attribute_names
        except Exception:  # noqa: BLE001
            continue
    return names


def fixture_attributes(root: str, experiment: str, names: set[str], documents: list[dict[str, Any]]) -> None:
    """Sparse rows holding ``names``: each on about half the documents, a document-level score in [0, 1.5)
    (so thresholds on either side of 1 and 1.0 split them) and, for span-like names, a paragraph span."""
    rng = random.Random(f"{experiment}/{sorted(names)}")
    os.makedirs(os.path.join(root, "attributes", experiment), exist_ok=True)
    with gzip.open(os.path.join(root, "attributes", experiment, "000.json.gz"), "wt") as out:
        for doc in documents:
            attributes = {}
            for name in sorted(names):
                if rng.random() < 0.5:
                    continue
                text = doc["text"]
                score = rng.choice([1, 1.0, 0, round(rng.random() * 1.5, 5)])
                if "span" in name or "duplicate" in name:
                    cut = text.find("\n") + 1 or len(text)
                    attributes[name] = [[0, cut, score]]
                else:
                    attributes[name] = [[0, len(text), score]]
            out.write(json.dumps({"id": doc["id"], "attributes": attributes}) + "\n")


def prepare_mix(config: dict[str, Any], checkout: str, work: str) -> dict[str, Any]:
    data = os.path.join(work, "data")
    os.makedirs(os.path.join(data, "documents"), exist_ok=True)
    shutil.copy(os.path.join(checkout, DOCS), os.path.join(data, "documents", "000.json.gz"))
    documents = read_jsonl(os.path.join(data, "documents", "000.json.gz"))
    for stream in config.get("streams") or []:
        if not isinstance(stream, dict):
            continue
        stream["documents"] = [os.path.join(data, "documents", "*.json.gz")]
        names = read_names(stream)
        for experiment in stream.get("attributes") or []:
            target = os.path.join(data, "attributes", experiment)
            if os.path.exists(target):
                continue
            provided = os.path.join(checkout, PROVIDED_ATTRIBUTES, experiment)
            if os.path.isdir(provided):
                shutil.copytree(provided, target)
            else:
                fixture_attributes(data, experiment, names, documents)
        output = stream.setdefault("output", {})
        output["path"] = os.path.join(work, "TOOL", "output", str(stream.get("name", "stream")))
    config["work_dir"] = {"input": os.path.join(work, "TOOL", "tmp-in"), "output": os.path.join(work, "TOOL", "tmp")}
    return config


def mix_output(directory: str) -> list[str]:
    rows = []
    for path in sorted(glob.glob(os.path.join(directory, "output", "**", "*.json*.gz"), recursive=True)):
        rows.extend(json.dumps(doc, sort_keys=True) for doc in read_jsonl(path))
    return sorted(rows)


# ------------------------------------------------------------------------------------ fixtures: tag, dedupe


def prepare_documents_run(config: dict[str, Any], checkout: str, work: str, source: str) -> dict[str, Any]:
    dedupe = config.get("dedupe")
    folder = str(dedupe.get("document_dir") or "documents") if isinstance(dedupe, dict) else "documents"
    config["documents"] = [os.path.join(work, "TOOL", folder, "*.json.gz")]
    config.pop("destination", None)
    config["work_dir"] = {"input": os.path.join(work, "TOOL", "tmp-in"), "output": os.path.join(work, "TOOL", "tmp")}
    bloom = config.get("bloom_filter")
    if isinstance(bloom, dict):
        bloom["file"] = os.path.join(work, "TOOL", "bloom.bin")
        bloom["read_only"] = False
    for tool in TOOLS:
        os.makedirs(os.path.join(work, tool, folder), exist_ok=True)
        shutil.copy(os.path.join(checkout, source), os.path.join(work, tool, folder, "000.json.gz"))
    return config


def attribute_rows(directory: str) -> list[str]:
    rows = []
    for path in sorted(glob.glob(os.path.join(directory, "attributes", "**", "*.gz"), recursive=True)):
        experiment = os.path.relpath(path, os.path.join(directory, "attributes")).split(os.sep)[0]
        for row in read_jsonl(path):
            rows.append(json.dumps({"experiment": experiment, "id": row["id"], **row["attributes"]}, sort_keys=True))
    return sorted(rows)


# ------------------------------------------------------------------------------------------- part 1


def run_config(path: str, checkout: str, scratch: str) -> dict[str, str]:
    rel = os.path.relpath(path, checkout)
    row = {"config": rel, "command": "-", "parses": "no", "dolma": "-", "ours": "-", "identical": "-", "why": ""}
    if "dolma2-resharding" in rel:
        row.update(command="(reshard)", why="configures AI2's resharding script, not a dolma command")
        return row
    try:
        config = load_config(path)
    except (ValueError, yaml.YAMLError) as exc:
        row["why"] = f"not YAML/JSON: {str(exc).splitlines()[0][:80]}"
        return row
    command = command_of(config)
    if command is None:
        row.update(why="no dolma command's keys")
        return row
    row.update(command=command, parses="yes")
    work = os.path.join(scratch, rel.replace("/", "__"))
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    if command == "mix":
        config = prepare_mix(config, checkout, work)
    elif command in ("tag", "dedupe"):
        config = prepare_documents_run(config, checkout, work, DEDUPE_DOCS if command == "dedupe" else DOCS)
    else:
        config["documents"] = [os.path.join(checkout, DOCS)]
        config["destination"] = os.path.join(work, "TOOL", "tokens")
    outcomes = {}
    for tool in TOOLS:
        os.makedirs(os.path.join(work, tool), exist_ok=True)
        text = json.dumps(config).replace(os.path.join(work, "TOOL"), os.path.join(work, tool))
        config_path = os.path.join(work, f"{tool}{os.path.splitext(path)[1] if path.endswith('.json') else '.yaml'}")
        with open(config_path, "w") as fh:
            if config_path.endswith(".json"):
                fh.write(text)
            else:
                yaml.safe_dump(json.loads(text), fh)
        if tool == "ours" and "memory allocation of" in outcomes["dolma"][1]:
            # a filter of hundreds of GB (AI2's estimated_doc_count): dolma cannot allocate it; ours would
            # write it to the scratch disk, partition by partition, for a 10-document fixture
            row["why"] = f"dolma 1.2.1 fails: {outcomes['dolma'][1]}; ours not run (the same filter size)"
            return row
        ok, message = run_tool(tool, config_path, command, os.path.join(work, tool))
        outcomes[tool] = (ok, message, config_path)
        row[tool] = "runs" if ok else "fails"
    if not outcomes["dolma"][0]:
        row["why"] = f"dolma 1.2.1 fails: {outcomes['dolma'][1]}"
        if outcomes["ours"][0]:
            row["why"] += "; ours runs"
        return row
    if not outcomes["ours"][0]:
        row["why"] = f"ours fails: {outcomes['ours'][1]}"
        return row
    compare = mix_output if command == "mix" else attribute_rows
    theirs, ours = compare(os.path.join(work, "dolma")), compare(os.path.join(work, "ours"))
    if theirs == ours:
        row["identical"] = "yes"
        return row
    if command in ("mix", "dedupe"):
        for made in ("output", "attributes", "tmp", "tmp-in"):
            shutil.rmtree(os.path.join(work, "ours", made), ignore_errors=True)
        for made in glob.glob(os.path.join(work, "ours", "bloom.bin*")):  # a fresh filter, not the first run's
            shutil.rmtree(made) if os.path.isdir(made) else os.remove(made)
        ok, message = run_tool(
            "ours", outcomes["ours"][2], command, os.path.join(work, "ours"), ("--compat", "dolma-1.2")
        )
        if ok and compare(os.path.join(work, "ours")) == theirs:
            row["identical"] = "compat"
            row["why"] = "identical with --compat dolma-1.2 (" + (
                "dolma's 1 != 1.0)" if command == "mix" else "dolma's dedupe rows: keys left out, spans)"
            )
            return row
    row["identical"] = "no"
    only_theirs, only_ours = len(set(theirs) - set(ours)), len(set(ours) - set(theirs))
    row["why"] = f"{len(theirs)} vs {len(ours)} rows; {only_theirs} only dolma's, {only_ours} only ours"
    return row


# ------------------------------------------------------------------------------------------- part 2


def strip_provenance(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        metadata = row.get("metadata")
        if isinstance(metadata, dict):
            metadata.pop("provenance", None)
            if not metadata:
                row.pop("metadata")
    return rows


def same_dedupe(expected: list[dict[str, Any]], computed: list[dict[str, Any]]) -> str | None:
    """dolma's ``_compare_dedupe_output``: ids, attribute keys, then the spans pairwise."""
    if len(expected) != len(computed):
        return f"{len(expected)} expected rows, {len(computed)} ours"
    for exp, comp in zip(expected, computed, strict=True):
        if exp["id"] != comp["id"] or exp["attributes"].keys() != comp["attributes"].keys():
            return f"row {exp['id']}: keys {sorted(exp['attributes'])} expected, ours {sorted(comp['attributes'])}"
        for key in exp["attributes"]:
            for a, b in zip(exp["attributes"][key], comp["attributes"][key], strict=False):
                if a != b:
                    return f"row {exp['id']} {key}: span {a} expected, ours {b}"
    return None


def expected_test(name: str, checkout: str, scratch: str) -> dict[str, str]:
    expected_file, output, kind = EXPECTED[name]
    run_dir = os.path.join(scratch, "expected", name)
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.copytree(os.path.join(checkout, "tests"), os.path.join(run_dir, "tests"))
    config = load_config(os.path.join(run_dir, "tests", "config", name))
    config["compat"] = "dolma-1.2"
    if kind == "dedupe":
        config["bloom_filter"]["file"] = os.path.join(run_dir, "bloom.bin")
    config_path = os.path.join(run_dir, f"ours-{name}")
    with open(config_path, "w") as fh:
        json.dump(config, fh) if name.endswith(".json") else yaml.safe_dump(config, fh)
    ok, message = run_tool("ours", config_path, kind, run_dir)
    row = {"test": name, "kind": kind, "passes": "no", "why": ""}
    if not ok:
        row["why"] = f"ours fails: {message}"
        return row
    target = os.path.join(run_dir, output)
    if not os.path.exists(target):
        made = sorted(glob.glob(os.path.join(os.path.dirname(target), "*")))
        row["why"] = f"no {output}; made {[os.path.basename(m) for m in made][:4]}"
        return row
    expected = read_jsonl(os.path.join(checkout, "tests", "data", "expected", expected_file))
    computed = read_jsonl(target)
    if kind == "mix":
        why = None if strip_provenance(computed) == expected else f"{len(expected)} expected rows, {len(computed)} ours"
        if why and len(expected) == len(computed):
            diff = next(i for i, (a, b) in enumerate(zip(expected, computed, strict=True)) if a != b)
            why = f"row {diff} differs: {json.dumps(expected[diff])[:80]} / {json.dumps(computed[diff])[:80]}"
    else:
        why = same_dedupe(expected, computed)
    row.update(passes="yes" if why is None else "no", why=why or "")
    return row


# --------------------------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkout", help="a local checkout of allenai/dolma (e.g. git archive v1.2.1)")
    parser.add_argument("--only", default="", help="run only configs whose path contains this")
    parser.add_argument("--start-at", default="", help="run only configs whose path sorts at or after this")
    parser.add_argument("--keep", help="scratch directory to keep (default: a temporary one, removed)")
    parser.add_argument("--jobs", type=int, default=3, help="configs run at the same time")
    args = parser.parse_args()
    checkout = os.path.abspath(args.checkout)
    if not os.path.exists(os.path.join(PEER, "bin", "dolma")):
        print(f"SKIP: allenai/dolma 1.2.1 is not installed at {PEER} (set DOLMA_PEER)")
        return 0
    scratch = args.keep or tempfile.mkdtemp(prefix="compat-dolma-")
    os.makedirs(scratch, exist_ok=True)
    paths = []
    for top in ("configs", "tests/config", "docs/examples"):
        for ext in ("yaml", "yml", "json"):
            paths.extend(glob.glob(os.path.join(checkout, top, "**", f"*.{ext}"), recursive=True))
    paths = sorted(
        p
        for p in set(paths)
        if args.only in os.path.relpath(p, checkout) and os.path.relpath(p, checkout) >= args.start_at
    )
    started = time.time()
    print(f"Part 1: {len(paths)} configs of {checkout}, {args.jobs} at a time\n")
    print(f"{'config':<72} {'cmd':<9} {'parses':<6} {'dolma':<5} {'ours':<5} {'identical':<9} why not", flush=True)
    with ThreadPoolExecutor(args.jobs) as pool:  # each config runs in its own subprocesses
        rows = []
        for row in pool.map(lambda path: run_config(path, checkout, scratch), paths):
            rows.append(row)
            print(
                f"{row['config']:<72} {row['command']:<9} {row['parses']:<6} {row['dolma']:<5} {row['ours']:<5} "
                f"{row['identical']:<9} {row['why']}",
                flush=True,
            )
    print(f"\n({time.time() - started:.0f} s)")
    commands = [r for r in rows if r["parses"] == "yes"]
    dolma_runs = [r for r in commands if r["dolma"] == "runs"]
    both = [r for r in dolma_runs if r["ours"] == "runs"]
    same = [r for r in both if r["identical"] in ("yes", "compat")]
    print(
        f"\nconfigs: {len(rows)}; dolma commands: {len(commands)}; dolma 1.2.1 runs offline: {len(dolma_runs)}; "
        f"of those ours runs: {len(both)}; identical: {len(same)} "
        f"({sum(r['identical'] == 'compat' for r in same)} with --compat dolma-1.2) = "
        f"{100.0 * len(same) / max(len(dolma_runs), 1):.1f}% of what dolma runs"
    )
    tests = [
        expected_test(name, checkout, scratch)
        for name in EXPECTED
        if args.only in f"tests/config/{name}" and f"tests/config/{name}" >= args.start_at
    ]
    if tests:
        print("\nPart 2: dolma's expected-output tests against our outputs (compat: dolma-1.2)\n")
        for row in tests:
            print(f"{row['test']:<32} {row['kind']:<7} {row['passes']:<4} {row['why']}")
        print(f"\npassing: {sum(r['passes'] == 'yes' for r in tests)} of {len(tests)}")
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
