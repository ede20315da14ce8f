"""How close the mix preview's per-rule estimates come to what the full mix then drops.

Generates a tagged corpus (default 60,000 documents in 8 shards: word count, a quality score, a flag, a
language score and duplicate-paragraph spans per document), runs ``dolma mix --preview`` on a seeded sample
and then the full mix of the same config, and prints, per rule, the share of documents the preview
estimated and the share the manifest reports, with the difference in percentage points, plus the expected
versus actual output documents and tokens, and the seconds of each.

    python benchmarks/bench_preview.py /tmp/bench-preview --documents 60000 --rate 0.1
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time

import yaml

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.corpus import make_text  # noqa: E402
from dolma import io  # noqa: E402


def make_corpus(root: str, documents: int, shards: int) -> None:
    rng = random.Random(13)
    per = documents // shards
    for s in range(shards):
        docs, rows = [], []
        for i in range(per):
            text = make_text(rng)
            doc_id = f"s{s}-{i}"
            cut = text.find("\n\n")
            attrs = {
                "exp__words": [[0, len(text), float(len(text.split()))]],
                "exp__quality": [[0, len(text), round(rng.betavariate(2, 3), 5)]],
                "exp__flag": [[0, len(text), 1.0 if rng.random() < 0.07 else 0.0]],
                "exp__en": [[0, len(text), round(rng.random() ** 0.3, 5)]],
                "exp__dup": [[0, cut + 2, 1.0]] if cut > 0 and rng.random() < 0.2 else [],
            }
            docs.append(json.dumps({"id": doc_id, "text": text, "source": f"src{s % 3}"}))
            rows.append(json.dumps({"id": doc_id, "attributes": attrs}))
        io.write_bytes(f"{root}/documents/{s:03d}.jsonl.gz", ("\n".join(docs) + "\n").encode())
        io.write_bytes(f"{root}/attributes/exp/{s:03d}.jsonl.gz", ("\n".join(rows) + "\n").encode())


def config(root: str) -> dict:
    return {
        "streams": [
            {
                "name": "bench",
                "documents": [f"{root}/documents/*.jsonl.gz"],
                "attributes": ["exp"],
                "filter": {
                    "include": ["$.attributes[?(@.exp__words[0][2] >= 120)]"],
                    "exclude": [
                        "$.attributes[?(@.exp__quality[0][2] < 0.25)]",
                        "$.attributes[?(@.exp__flag[0][2] == 1)]",
                        "$.attributes[?(@.exp__en[0][2] < 0.5)]",
                    ],
                },
                "span_replacement": [{"span": "$.attributes.exp__dup", "min_score": 0.5, "replacement": ""}],
                "output": {"path": f"{root}/mixed", "min_text_length": 600},
                "sample_rate": 0.8,
            }
        ],
        "seed": 7,
    }


def dolma(*args: str) -> tuple[float, str]:
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "dolma.cli", *args], capture_output=True, text=True, check=True)
    return time.perf_counter() - started, run.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root")
    parser.add_argument("--documents", type=int, default=60_000)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--rate", type=float, default=0.1)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    if not os.path.exists(f"{args.root}/documents"):
        make_corpus(args.root, args.documents, args.shards)
    path = f"{args.root}/mix.yaml"
    with open(path, "w") as f:
        yaml.safe_dump(config(args.root), f)
    common = ["-c", path, "--processes", str(args.processes)]
    preview_s, _ = dolma("mix", *common, "--preview", "--preview_sample_rate", str(args.rate),
                         "--html", f"{args.root}/preview.html")  # fmt: skip
    preview_s, printed = dolma("mix", *common, "--preview", "--preview_sample_rate", str(args.rate))
    mix_s, _ = dolma("mix", *common, "--overwrite")
    print(printed)
    manifest = json.loads(io.read_bytes(f"{args.root}/mixed.manifest.json"))
    (stream,) = manifest["streams"]
    total = stream["counts"]["in"]["documents"]
    actual = {rule: 100 * row["documents"] / total for rule, row in stream["counts"]["dropped"].items()}
    estimates = _estimates(printed)
    print(f"{total:,} documents, preview on a {args.rate} sample; load: {os.getloadavg()[0]:.1f}")
    print(f"{'rule':<28} {'preview %':>10} {'full mix %':>11} {'diff (pp)':>10}")
    worst = 0.0
    for rule, actual_pct in sorted(actual.items()):
        estimate = estimates.get(rule, 0.0)
        worst = max(worst, abs(estimate - actual_pct))
        print(f"{rule:<28} {estimate:>10.2f} {actual_pct:>11.2f} {estimate - actual_pct:>+10.2f}")
    kept = stream["counts"]["written"]
    print(f"largest difference: {worst:.2f} percentage points")
    print(f"output documents: expected {estimates['expected_documents']:,}, actual {kept['documents']:,}")
    print(f"output tokens: expected {estimates['expected_tokens']:,}, actual {kept['tokens']:,}")
    print(f"seconds: preview {preview_s:.1f}, full mix {mix_s:.1f} ({mix_s / preview_s:.1f}x)")


def _estimates(printed: str) -> dict:
    """Parse the preview's terminal table (what a user reads)."""
    out: dict = {}
    for line in printed.splitlines():
        words = line.split()
        if len(words) >= 3 and words[1] == "drops":
            out[words[0]] = float(words[2].rstrip("%"))
        if line.strip().startswith("expected output:"):
            numbers = [w.lstrip("~").replace(",", "") for w in words if w.startswith("~")]
            out["expected_documents"], out["expected_tokens"] = int(numbers[0]), int(numbers[2])
    return out


if __name__ == "__main__":
    main()
