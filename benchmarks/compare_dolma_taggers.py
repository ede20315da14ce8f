"""Per-document agreement of our gopher, c4 and pii taggers with allenai/dolma 1.2.1's gopher_v1, c4_v2 and
pii_regex_v2, run with each tool's own ``dolma tag`` on the same shards.

    python benchmarks/compare_dolma_taggers.py [--corpus benchmarks/work/tagger_corpus] [--processes 2]

A document agrees when every attribute dolma writes has the same value in ours (numbers within 1.5e-5,
both sides round to 5 decimals; line spans identical; PII detections matched one to one by overlap, since
dolma's spans also cover the spaces and punctuation around an address). A difference is *deliberate* only
when one of the bugs we fix on purpose (docs/taggers.md) explains it, and the script checks the explanation
rather than trusting it:

- gopher ``blank_lines``: the line statistics must equal what dolma computes on the same text with its blank
  lines removed (a second dolma run on such a copy of the corpus).
- c4 ``lowercase_offsets``: only documents whose lower-cased text is longer than the text.
- pii: each detection only one side has must be explained by a named rule of ``taggers.pii`` (a false
  positive we reject) or by dolma's pattern needing whitespace where there is none.

Agreement = agreeing / (documents - deliberate differences); the excluded count is printed. The script exits
non-zero when a tagger agrees on fewer than 99% of documents, and 0 with a message when the dolma 1.2.1
virtualenv is absent.
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from dolma.taggers.pii import candidates, ip_rejection, phone_rejection  # noqa: E402

PEER = os.environ.get("DOLMA_PEER", "/work/peers_dolma")
PEER_DOLMA = os.path.join(PEER, "bin", "dolma")
NAUGHTY = glob.glob(os.path.join(PEER, "lib", "python3*", "site-packages", "dolma", "data", "naughty_words_en.txt"))
THRESHOLD = 99.0
DELIBERATE = {
    "blank_lines": "blank lines not counted as lines; line statistics verified equal to dolma's on the text "
    "with blank lines removed, all other statistics equal to dolma's",
    "lowercase_offsets": "line offsets into the original text (lower-casing made it longer)",
    "pii_rules": "every difference explained by a named rule (listed below) or the score of a text with no word",
}

LINE_ATTRIBUTES = {
    "fraction_of_lines_starting_with_bullet_point",
    "fraction_of_lines_ending_with_ellipsis",
    "fraction_of_duplicate_lines",
    "fraction_of_characters_in_duplicate_lines",
}
DOLMA_PII = {"EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone", "IP_ADDRESS": "ip"}
EMAIL_EDGE = ".@,?!;:)( \t\n\r\f\v"


def read_jsonl(path: str) -> Iterator[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def attributes(path: str, prefix: str) -> list[dict[str, Any]]:
    cut = len(prefix)
    return [{k[cut:]: v for k, v in row["attributes"].items() if k.startswith(prefix)} for row in read_jsonl(path)]


def run(cmd: list[str], cwd: str) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - started


def prepare(corpus: str, work: str) -> list[str]:
    """Copy the shards to ``work/orig/documents`` and a blank-lines-removed copy to ``work/noblank/documents``."""
    shutil.rmtree(work, ignore_errors=True)
    shards = sorted(glob.glob(os.path.join(corpus, "documents", "*.jsonl.gz")))
    for variant in ("orig", "noblank"):
        os.makedirs(os.path.join(work, variant, "documents"))
    for shard in shards:
        name = os.path.basename(shard)
        shutil.copy(shard, os.path.join(work, "orig", "documents", name))
        with gzip.open(os.path.join(work, "noblank", "documents", name), "wt", encoding="utf-8") as out:
            for row in read_jsonl(shard):
                row["text"] = "\n".join(line for line in row["text"].split("\n") if line.strip())
                out.write(json.dumps(row) + "\n")
    return [os.path.basename(s) for s in shards]


def close(a: Any, b: Any) -> bool:
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1.5e-5)


def doc_value(attrs: dict[str, Any], name: str) -> float | None:
    spans = attrs.get(name)
    return None if not spans else spans[0][2]


def compare_gopher(dolma: dict, noblank: dict, ours: dict, text: str) -> tuple[str, list[str]]:
    has_blank = any(not line.strip() for line in text.split("\n"))
    fixed, wrong = False, []
    ngrams = {n for n in ours if n.startswith(("fraction_of_characters_in_most", "fraction_of_characters_in_dup"))}
    for name in set(dolma) | (ngrams - {"fraction_of_characters_in_duplicate_paragraphs"}):
        theirs, mine = doc_value(dolma, name), doc_value(ours, name)
        if theirs is None or mine is None:
            if theirs is not mine:
                wrong.append(f"{name}: dolma {theirs} ours {mine}")
            continue
        if close(theirs, mine):
            continue
        if name in LINE_ATTRIBUTES and has_blank and close(doc_value(noblank, name), mine):
            fixed = True
            continue
        wrong.append(f"{name}: dolma {theirs} ours {mine}")
    return ("disagree" if wrong else "blank_lines" if fixed else "agree"), wrong


def compare_c4(dolma: dict, ours: dict, text: str) -> tuple[str, list[str]]:
    wrong = []
    for name in ("has_curly_brace", "has_lorem_ipsum", "has_javascript", "has_naughty_word"):
        if bool(dolma.get(name)) != bool(ours.get(name)):  # dolma omits a false flag, we write []
            wrong.append(f"{name}: dolma {bool(dolma.get(name))} ours {bool(ours.get(name))}")
    if not close(doc_value(dolma, "line_count"), doc_value(ours, "line_count")):
        wrong.append("line_count")
    spans_differ = False
    for name in ("lines_with_no_ending_punctuation", "lines_with_too_few_words"):
        theirs = [tuple(s[:2]) for s in dolma.get(name, [])]
        mine = [tuple(s[:2]) for s in ours.get(name, [])]
        if theirs != mine:
            spans_differ = True
            if len(text.lower()) == len(text):
                wrong.append(f"{name}: {len(theirs)} dolma spans, {len(mine)} ours")
    if wrong:
        return "disagree", wrong
    return ("lowercase_offsets" if spans_differ else "agree"), []


def core(text: str, start: int, end: int, kind: str) -> tuple[int, int]:
    """The address or number inside a dolma span, without the separators its pattern also matched."""
    edge = EMAIL_EDGE if kind == "email" else " \t\n\r\f\v"
    while start < end and text[start] in edge:
        start += 1
    while end > start and text[end - 1] in edge:
        end -= 1
    return start, end


def dolma_miss_reason(text: str, start: int, end: int, kind: str) -> str | None:
    """Why dolma's pattern cannot match where we found something (None: no reason known)."""
    if kind == "email":
        after = text[end : end + 2]
        if not (after[:1].isspace() or (after[:1] in ".,?!;:)(@" and after[1:2].isspace())):
            return "dolma_email_needs_whitespace_after"
    if kind == "phone" and (start == 0 or not text[start - 1].isspace()) and text[start] != "(":
        return "dolma_phone_needs_whitespace_before"
    if kind == "phone" and text[start] == "(" and (start == 0 or not text[start - 1].isspace()):
        return "dolma_phone_needs_whitespace_before"
    if kind == "phone" and text[start] == "+":
        return "dolma_phone_has_no_country_code"
    return None


def our_rejection(text: str, start: int, end: int, kind: str) -> str | None:
    """The rule that rejected our own candidate overlapping the span, else the first rule the span fails."""
    for other_kind, s, e, rejection in candidates(text):
        if other_kind == kind and s < end and start < e and rejection:
            return rejection
    if kind == "phone":
        return phone_rejection(text, start, end)
    if kind == "ip":
        return ip_rejection(text, start, end)
    return "email_shape"


samples: dict[str, list[str]] = collections.defaultdict(list)


def compare_pii(dolma: dict, ours: dict, text: str, rules: collections.Counter) -> tuple[str, list[str]]:
    reasons, wrong = [], []
    for dolma_name, kind in DOLMA_PII.items():
        theirs = [core(text, s, e, kind) for s, e, _ in dolma.get(dolma_name, [])]
        mine = [tuple(s[:2]) for s in ours.get(kind, [])]
        unmatched_mine = list(mine)
        for s, e in theirs:
            hit = next((m for m in unmatched_mine if m[0] < e and s < m[1]), None)
            if hit is not None:
                unmatched_mine.remove(hit)
                continue
            reason = our_rejection(text, s, e, kind)
            rules[f"{kind}:{reason}"] += 1
            (reasons if reason else wrong).append(f"{kind} {text[s:e]!r}: dolma only ({reason})")
            if reason and len(samples[f"{kind}:{reason}"]) < 3:
                samples[f"{kind}:{reason}"].append(text[max(0, s - 20) : e + 10])
        for s, e in unmatched_mine:
            if any(d[0] < e and s < d[1] for d in theirs):
                reason = "dolma_span_covers_two"  # e.g. "a@b.org>,c@d.org": dolma's local part takes "b.org>,c"
            else:
                reason = dolma_miss_reason(text, s, e, kind)
            rules[f"{kind}:{reason}"] += 1
            (reasons if reason else wrong).append(f"{kind} {text[s:e]!r}: ours only ({reason})")
            if reason and len(samples[f"{kind}:{reason}"]) < 3:
                samples[f"{kind}:{reason}"].append(text[max(0, s - 20) : e + 10])
    theirs_doc, mine_doc = doc_value(dolma, "doc"), doc_value(ours, "doc")
    if not reasons and not wrong and not close(theirs_doc, mine_doc):
        if theirs_doc == -1 and mine_doc == 0:
            reasons.append("no_words")
        else:
            wrong.append(f"doc: dolma {theirs_doc} ours {mine_doc}")
    if wrong:
        return "disagree", wrong
    return ("pii_rules" if reasons else "agree"), reasons


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=os.path.join(HERE, "work", "tagger_corpus"))
    parser.add_argument("--work", default=os.path.join(HERE, "work", "compare_dolma"))
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--reuse-dolma", action="store_true", help="keep dolma's attributes from a previous run")
    args = parser.parse_args()
    if not os.path.exists(PEER_DOLMA) or not NAUGHTY:
        print(f"SKIP: allenai/dolma 1.2.1 is not installed at {PEER} (set DOLMA_PEER); nothing compared")
        return 0
    if not glob.glob(os.path.join(args.corpus, "documents", "*.jsonl.gz")):
        subprocess.run([sys.executable, os.path.join(HERE, "make_tagger_corpus.py"), "--out", args.corpus], check=True)
    procs = ["--processes", str(args.processes)]
    seconds = 0.0
    if args.reuse_dolma and glob.glob(os.path.join(args.work, "noblank", "attributes", "ref", "*.jsonl.gz")):
        shards = [os.path.basename(s) for s in sorted(glob.glob(os.path.join(args.work, "orig", "documents", "*")))]
        shutil.rmtree(os.path.join(args.work, "orig", "attributes", "ours"), ignore_errors=True)
    else:
        shards = prepare(args.corpus, args.work)
        seconds = run(
            [PEER_DOLMA, "tag", "--documents", "orig/documents/*.jsonl.gz", "--experiment", "ref"]
            + ["--taggers", "gopher_v1", "c4_v2", "pii_regex_v2", *procs],
            args.work,
        )
        run([PEER_DOLMA, "tag", "--documents", "noblank/documents/*.jsonl.gz", "--experiment", "ref"]
            + ["--taggers", "gopher_v1", *procs], args.work)  # fmt: skip
    config = {
        "documents": ["orig/documents/*.jsonl.gz"],
        "experiment": "ours",
        "processes": args.processes,
        "taggers": ["gopher", "gopher_repetition", {"c4": {"bad_words_path": NAUGHTY[0]}}, "pii"],
    }
    with open(os.path.join(args.work, "ours.json"), "w") as fh:
        json.dump(config, fh)
    ours_seconds = run([os.path.join(os.path.dirname(sys.executable), "dolma"), "tag", "-c", "ours.json"], args.work)
    print(f"dolma 1.2.1 tag: {seconds:.1f} s, ours: {ours_seconds:.1f} s (one run each; see bench_taggers.py)")

    outcomes: dict[str, collections.Counter] = {t: collections.Counter() for t in ("gopher", "c4", "pii")}
    examples: dict[str, list[str]] = collections.defaultdict(list)
    rules: collections.Counter = collections.Counter()
    for shard in shards:
        docs = list(read_jsonl(os.path.join(args.work, "orig", "documents", shard)))
        theirs = {
            t: attributes(os.path.join(args.work, "orig", "attributes", "ref", shard), f"ref__{t}__")
            for t in ("gopher_v1", "c4_v2", "pii_regex_v2")
        }
        noblank = attributes(os.path.join(args.work, "noblank", "attributes", "ref", shard), "ref__gopher_v1__")
        ours_path = os.path.join(args.work, "orig", "attributes", "ours", shard)
        mine = {t: attributes(ours_path, f"ours__{t}__") for t in ("gopher", "gopher_repetition", "c4", "pii")}
        for i, doc in enumerate(docs):
            text = doc["text"]
            gopher = {**mine["gopher"][i], **mine["gopher_repetition"][i]}
            for tagger, (outcome, notes) in (
                ("gopher", compare_gopher(theirs["gopher_v1"][i], noblank[i], gopher, text)),
                ("c4", compare_c4(theirs["c4_v2"][i], mine["c4"][i], text)),
                ("pii", compare_pii(theirs["pii_regex_v2"][i], mine["pii"][i], text, rules)),
            ):
                outcomes[tagger][outcome] += 1
                if outcome == "disagree" and len(examples[tagger]) < 5:
                    examples[tagger].append(f"{doc['id']}: " + "; ".join(notes[:3]))

    failed = False
    print(f"\n{'tagger':<8} {'documents':>9} {'agree':>7} {'deliberate':>10} {'disagree':>8} {'agreement':>9}")
    for tagger, counts in outcomes.items():
        total = sum(counts.values())
        deliberate = total - counts["agree"] - counts["disagree"]
        compared = total - deliberate
        share = 100.0 * counts["agree"] / max(compared, 1)
        failed |= share < THRESHOLD
        print(f"{tagger:<8} {total:>9} {counts['agree']:>7} {deliberate:>10} {counts['disagree']:>8} {share:>8.2f}%")
        for outcome, n in sorted(counts.items()):
            if outcome not in ("agree", "disagree"):
                print(f"{'':<8}   excluded as deliberate ({outcome}): {n}: {DELIBERATE[outcome]}")
        for example in examples[tagger]:
            print(f"{'':<8}   disagreement: {example[:300]}")
    print("\nPII detections only one side has, by rule (dolma only = a false positive we reject):")
    for rule, n in sorted(rules.items()):
        print(f"  {rule}: {n}   e.g. {samples[rule][:3]}" if samples[rule] else f"  {rule}: {n}")
    if failed:
        print(f"\nFAIL: a tagger agrees on fewer than {THRESHOLD}% of documents")
        return 1
    print(f"\nOK: every tagger agrees on >= {THRESHOLD}% of documents")
    return 0


if __name__ == "__main__":
    sys.exit(main())
