"""Make a synthetic JSONL corpus for throughput benchmarks (web-like documents of varied length).

python benchmarks/corpus.py OUT_DIR --mb 100 --shards 4 --ext .jsonl.zst
"""

from __future__ import annotations

import argparse
import json
import os
import random

WORDS = (
    "the of and to in a is that for it as was with be by on not he this are or his from at which but have an "
    "they you were her she there been one all we their has would when if so no more out up said what its about "
    "into than them can only other new some time could these two may first then do any like my now over such "
    "our man me even most made after also did many before must through back years where much your way well down "
    "should because each just those people how too little state good very make world still own see men work long "
    "get here between both life being under never day same another know while last might us great old year off "
    "come since against go came right used take three data model training corpus language quality filter"
).split()


def make_text(rng: random.Random) -> str:
    paragraphs = []
    for _ in range(rng.randint(1, 12)):
        n = rng.randint(5, 120)
        sentence = " ".join(rng.choice(WORDS) for _ in range(n))
        paragraphs.append(sentence[0].upper() + sentence[1:] + ".")
    return "\n\n".join(paragraphs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="output directory; shards go to OUT/documents/")
    parser.add_argument("--mb", type=float, default=100.0, help="total uncompressed size")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--ext", default=".jsonl.zst")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from dolma import io

    rng = random.Random(args.seed)
    per_shard = int(args.mb * 1e6 / args.shards)
    os.makedirs(os.path.join(args.out, "documents"), exist_ok=True)
    doc_id = 0
    for shard in range(args.shards):
        path = os.path.join(args.out, "documents", f"shard-{shard:04d}{args.ext}")
        with io.atomic_write(path) as out:
            written = 0
            while written < per_shard:
                doc = {
                    "id": f"doc-{doc_id}",
                    "text": make_text(rng),
                    "source": "bench",
                    "added": "2024-01-01T00:00:00Z",
                    "metadata": {"url": f"https://example.com/{doc_id}", "lang": "en"},
                }
                line = json.dumps(doc).encode() + b"\n"
                out.write(line)
                written += len(line)
                doc_id += 1
    print(f"wrote {doc_id} documents in {args.shards} shards to {args.out}/documents")


if __name__ == "__main__":
    main()
