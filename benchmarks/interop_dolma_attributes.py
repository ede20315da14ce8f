"""Interop check: attribute files written by our `dolma tag` are accepted by allenai/dolma 1.2.1's mixer, and
a length filter over them keeps exactly the documents our own computation predicts.

    python benchmarks/interop_dolma_attributes.py [--peer /path/to/venv/bin/dolma]

The peer runs from its own virtualenv (`pip install dolma==1.2.1` there). Without it the script says so and
exits 0 (nothing to check). Exit 1 on any disagreement.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(os.path.dirname(HERE), "configs", "sample", "documents")
DEFAULT_PEER = "/work/peers_dolma/bin/dolma"
MIN_CHARS = 1000


def read_jsonl_dir(root: str) -> list[dict]:
    rows = []
    for dirpath, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            if name.endswith((".jsonl.gz", ".json.gz")):
                with gzip.open(os.path.join(dirpath, name), "rt") as f:
                    rows.extend(json.loads(line) for line in f if line.strip())
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer", default=os.environ.get("DOLMA_PEER_BIN", DEFAULT_PEER))
    args = parser.parse_args()
    if not os.path.exists(args.peer):
        print(f"allenai/dolma not found at {args.peer}; install dolma==1.2.1 in a separate venv to run this check")
        return 0
    work = tempfile.mkdtemp(prefix="interop-")
    try:
        shutil.copytree(SAMPLE, f"{work}/documents")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "dolma.cli",
                "tag",
                "--documents",
                f"{work}/documents/*/*.jsonl.gz",
                "--taggers",
                "char_length",
                "whitespace_tokenizer",
                "--experiment",
                "ours",
                "--processes",
                "2",
            ],
            check=True,
        )
        config = {
            "streams": [
                {
                    "name": "long",
                    "documents": [f"{work}/documents/*/*.jsonl.gz"],
                    "attributes": ["ours"],
                    "output": {"path": f"{work}/mixed", "max_size_in_bytes": 100_000_000},
                    "filter": {"include": [f"$.attributes[?(@.ours__char_length__length[0][2] >= {MIN_CHARS}.0)]"]},
                }
            ],
            "processes": 1,
        }
        with open(f"{work}/mix.json", "w") as f:
            json.dump(config, f)
        subprocess.run([args.peer, "-c", f"{work}/mix.json", "mix"], check=True, cwd=work)
        documents = read_jsonl_dir(f"{work}/documents")
        expected = sorted(d["id"] for d in documents if len(d["text"]) >= MIN_CHARS)
        kept = sorted(d["id"] for d in read_jsonl_dir(f"{work}/mixed"))
        print(
            f"documents: {len(documents)}; predicted kept (len(text) >= {MIN_CHARS}): {len(expected)}; "
            f"kept by allenai/dolma's mixer: {len(kept)}"
        )
        if kept != expected:
            missing, extra = set(expected) - set(kept), set(kept) - set(expected)
            print(f"DISAGREE: {len(missing)} predicted but dropped, {len(extra)} kept but not predicted")
            return 1
        print("OK: allenai/dolma 1.2.1's mixer read our attributes and kept exactly the predicted documents")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
