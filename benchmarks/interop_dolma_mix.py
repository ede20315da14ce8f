"""Interop check: a corpus tagged and deduplicated by allenai/dolma 1.2.1, mixed by its mixer and by ours,
must keep the same documents with the same texts after span replacement.

    python benchmarks/interop_dolma_mix.py [--peer /work/peers_dolma/bin/dolma] [--keep DIR]

The peer tags the corpus (whitespace_tokenizer_v1, char_length_v1, pii_regex_v2) and deduplicates its
paragraphs (`dolma dedupe`, Bloom filter); then one dolma mixer config (length filters, a PII exclude,
duplicate-paragraph removal and e-mail masking by span replacement) runs through both mixers.

One difference is expected and checked, not ignored: dolma 1.2.1 compares ``1`` and ``1.0`` as different
values (``1 >= 1.0`` is false), so a second stream that drops documents whose duplicate-paragraph score is
``>= 1.0`` drops nothing there; ours drops exactly the documents with a duplicate paragraph. Every document
on which the two mixers disagree must be explained by that rule.

Exits 1 on any unexplained disagreement; exits 0 with a message when the peer is not installed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from typing import Any

DEFAULT_PEER = "/work/peers_dolma/bin/dolma"
WORDS = (
    "the of and to in a is that for it as was with be by on not he this are or his from at which but have an "
    "they you were her she there been one all we their has would when if so no more out up said what its about "
    "data model training corpus language quality filter river mountain city garden music light window"
).split()
DUP = "bff_duplicate_paragraph_spans"  # dolma dedupe writes the configured name, unprefixed
STREAMS_ORDER = ("mixed", "dups")


def sentence(rng: random.Random, low: int, high: int) -> str:
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))
    return words[0].upper() + words[1:] + "."


def make_corpus(root: str, files: int = 2, per_file: int = 200, seed: int = 7) -> None:
    """Documents of 1-6 paragraphs; some share boilerplate paragraphs (duplicates), some carry e-mail
    addresses in a paragraph of their own, some are short."""
    rng = random.Random(seed)
    boilerplate = [sentence(rng, 12, 30) for _ in range(15)]
    doc_id = 0
    for f in range(files):
        os.makedirs(f"{root}/documents", exist_ok=True)
        with gzip.open(f"{root}/documents/{f:04d}.jsonl.gz", "wt") as out:
            for _ in range(per_file):
                paragraphs = [sentence(rng, 3 if rng.random() < 0.2 else 8, 60) for _ in range(rng.randint(1, 6))]
                if rng.random() < 0.35:
                    paragraphs.insert(rng.randint(0, len(paragraphs)), rng.choice(boilerplate))
                if rng.random() < 0.25:
                    paragraphs.append(f"Write to person{doc_id}@example.org or desk{doc_id % 7}@mail.example.com today")
                doc = {"id": f"doc-{doc_id}", "text": "\n".join(paragraphs), "source": "web", "metadata": {"n": doc_id}}
                out.write(json.dumps(doc) + "\n")
                doc_id += 1


def read_dir(root: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for dirpath, _, names in sorted(os.walk(root)):
        for name in sorted(names):
            if name.endswith((".json.gz", ".jsonl.gz")):
                with gzip.open(os.path.join(dirpath, name), "rt") as handle:
                    for line in handle:
                        if line.strip():
                            doc = json.loads(line)
                            out[doc["id"]] = doc
    return out


def mixer_config(work: str, out: str) -> dict[str, Any]:
    common = {
        "documents": [f"{work}/documents/*.jsonl.gz"],
        "attributes": ["tags", "dedupe_para"],
    }
    return {
        "streams": [
            {
                **common,
                "name": "mixed",
                "output": {"path": f"{out}/mixed", "max_size_in_bytes": 1_000_000, "discard_fields": ["attributes"]},
                "filter": {
                    "include": ["$.attributes[?(@.tags__whitespace_tokenizer_v1__length[0][2] > 15.5)]"],
                    "exclude": [
                        "$.attributes[?(@.tags__char_length_v1__length[0][2] > 2500.5)]",
                        "$.attributes[?(@.tags__pii_regex_v2__doc && @.tags__pii_regex_v2__doc[0]"
                        " && @.tags__pii_regex_v2__doc[0][2] > 0.012)]",
                    ],
                },
                "span_replacement": [
                    {"span": f"$.attributes.{DUP}", "min_score": 0.5, "replacement": ""},
                    {
                        "span": "$.attributes.tags__pii_regex_v2__EMAIL_ADDRESS",
                        "min_score": 0.5,
                        "replacement": "|||EMAIL_ADDRESS|||",
                    },
                ],
            },
            {
                **common,
                "name": "dups",
                "output": {"path": f"{out}/dups", "max_size_in_bytes": 1_000_000, "discard_fields": ["attributes"]},
                "filter": {"exclude": [f"$.attributes[?(@.{DUP} && @.{DUP}[0] && @.{DUP}[0][2] >= 1.0)]"]},
            },
        ],
        "processes": 2,
    }


def run(cmd: list[str], cwd: str) -> None:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        print(result.stdout[-3000:], result.stderr[-3000:], sep="\n")
        raise SystemExit(f"command failed ({result.returncode}): {' '.join(cmd)}")


def attribute_rows(work: str, experiment: str) -> dict[str, dict[str, Any]]:
    return {doc_id: row.get("attributes", {}) for doc_id, row in read_dir(f"{work}/attributes/{experiment}").items()}


def int_float_tie(attrs: dict[str, Any]) -> bool:
    """The duplicate filter's value is the integer 1, which dolma 1.2.1 does not find ``>= 1.0``."""
    spans = attrs.get(DUP) or []
    return bool(spans) and type(spans[0][2]) is int and spans[0][2] >= 1


def compare(stream: str, peer: dict[str, Any], ours: dict[str, Any], attrs: dict[str, dict[str, Any]]) -> list[str]:
    problems = []
    for doc_id in sorted(set(peer) ^ set(ours)):
        explained = stream == "dups" and doc_id in peer and doc_id not in ours and int_float_tie(attrs[doc_id])
        if not explained:
            side = "only dolma 1.2.1" if doc_id in peer else "only ours"
            problems.append(f"{stream}: {doc_id} kept by {side}")
    for doc_id in sorted(set(peer) & set(ours)):
        if peer[doc_id]["text"] != ours[doc_id]["text"]:
            problems.append(
                f"{stream}: {doc_id} texts differ:\n"
                f"  dolma: {peer[doc_id]['text']!r}\n  ours:  {ours[doc_id]['text']!r}"
            )
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer", default=os.environ.get("DOLMA_PEER_BIN", DEFAULT_PEER))
    parser.add_argument("--keep", help="work in this directory and keep it (default: a temporary one)")
    args = parser.parse_args()
    if not os.path.exists(args.peer):
        print(f"skipped: allenai/dolma 1.2.1 not found at {args.peer} (install it in a separate venv to run this)")
        return 0
    work = args.keep or tempfile.mkdtemp(prefix="interop-mix-")
    try:
        shutil.rmtree(work, ignore_errors=True)
        make_corpus(work)
        docs = f"{work}/documents/*.jsonl.gz"
        taggers = ["whitespace_tokenizer_v1", "char_length_v1", "pii_regex_v2"]
        run([args.peer, "tag", "--documents", docs, "--experiment", "tags", "--taggers", *taggers,
             "--processes", "2"], work)  # fmt: skip
        run([args.peer, "dedupe", "--documents", docs, "--dedupe.name", "dedupe_para",
             "--dedupe.paragraphs.attribute_name", "bff_duplicate_paragraph_spans", "--dedupe.skip_empty",
             "--bloom_filter.file", f"{work}/bloom.bin", "--no-bloom_filter.read_only",
             "--bloom_filter.estimated_doc_count", "100000", "--bloom_filter.desired_false_positive_rate", "1e-9",
             "--processes", "1"], work)  # fmt: skip
        for name, out in (("peer", f"{work}/out_peer"), ("ours", f"{work}/out_ours")):
            with open(f"{work}/mix_{name}.json", "w") as handle:
                json.dump(mixer_config(work, out), handle, indent=1)
        run([args.peer, "-c", f"{work}/mix_peer.json", "mix"], work)
        run([sys.executable, "-m", "dolma.cli", "mix", "-c", f"{work}/mix_ours.json"], work)
        attrs = attribute_rows(work, "dedupe_para")
        problems = []
        for stream in STREAMS_ORDER:
            peer, ours = read_dir(f"{work}/out_peer/{stream}"), read_dir(f"{work}/out_ours/{stream}")
            problems += compare(stream, peer, ours, attrs)
            edited = sum(1 for i in ours if i in peer and ours[i]["text"] != read_text(work, i))
            print(
                f"{stream}: dolma 1.2.1 kept {len(peer)}, ours kept {len(ours)}, both {len(set(peer) & set(ours))}; "
                f"texts edited by span replacement: {edited}"
            )
        with_dups = sum(1 for row in attrs.values() if int_float_tie(row))
        print(
            f"documents with a duplicate paragraph (score the integer 1): {with_dups}; dolma 1.2.1's "
            "`>= 1.0` exclude misses them all, ours drops them"
        )
        if problems:
            print(f"{len(problems)} unexplained disagreement(s):")
            print("\n".join(problems[:30]))
            return 1
        print("agreement: same documents and same texts (apart from the int/float fix)")
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


_TEXTS: dict[str, str] = {}


def read_text(work: str, doc_id: str) -> str:
    if not _TEXTS:
        _TEXTS.update({i: d["text"] for i, d in read_dir(f"{work}/documents").items()})
    return _TEXTS[doc_id]


if __name__ == "__main__":
    sys.exit(main())
