"""Language ID speed: fastText's per-document predict vs batched (list) predict vs the ``language`` tagger.

The corpus is real multilingual text from this machine: the translated messages of every gettext catalogue
under /usr/share/locale (dozens of languages), grouped into multi-line documents. No network is needed.

    python benchmarks/bench_language.py [--docs 4000] [--runs 3] [--corpus 'GLOB'] [--no-gettext]

Prints, per method, the median wall time of ``--runs`` rounds (methods take turns in each round, so load
changes on this shared machine fall on all alike), predictions/s, CPU seconds per MB and the ratio to
per-document predict, for document-level and paragraph-level prediction, and checks that the tagger's top
language equals fastText's own per-document ``predict`` on every document.

allenai/dolma 1.2.1's fastText language taggers download ``lid.176.bin`` when they start, which cannot
happen here; the script runs them (``ft_lang_id_en_doc_v2`` and ``ft_lang_id_en_paragraph_v2``, their code
unchanged) in the peer virtualenv with ``MODEL_PATH`` pointed at our bundled ``lid.176.ftz``, one process,
the same documents, in the same rounds, and compares their English decisions (score >= 0.5) with ours.

With ``--corpus`` (default: the tagger benchmark corpus under benchmarks/work/tagger_corpus, if it exists), it
also compares our numpy prediction (``taggers.fasttext_numpy``) with the fasttext module on real text, documents
and paragraphs: CPU seconds per MB side by side (each round starts with an empty token cache, as a worker does),
the ``language`` tagger on either path, and the agreement: the top label on every unit, the largest probability
difference and how many scores differ once rounded to the 5 decimals attribute files keep.
"""

from __future__ import annotations

import argparse
import gettext
import glob
import gzip
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dolma.taggers import fasttext_numpy  # noqa: E402
from dolma.taggers.classifiers import FastTextModule, fasttext_line, load_fasttext_module  # noqa: E402
from dolma.taggers.language import LanguageId  # noqa: E402

from dolma import Document  # noqa: E402
from dolma.documents import paragraph_bounds  # noqa: E402

BATCH = 256  # dolma tag's default batch_size
HERE = os.path.dirname(os.path.abspath(__file__))
PEER_PYTHON = os.path.join(os.environ.get("DOLMA_PEER", "/work/peers_dolma"), "bin", "python")
LID_MODEL = os.path.join(os.path.dirname(HERE), "taggers", "resources", "lid.176.ftz")

PEER_SCRIPT = """
import json, sys, time
from dolma.core.data_types import Document
from dolma.taggers.language import FastTextEnglishLanguageDocumentTagger, FastTextEnglishLanguageParagraphTagger

path, level = sys.argv[1], sys.argv[2]
base = FastTextEnglishLanguageDocumentTagger if level == "document" else FastTextEnglishLanguageParagraphTagger
tagger = type("Local", (base,), {"MODEL_PATH": sys.argv[3]})()
docs = [Document(source="b", id=row["id"], text=row["text"]) for row in map(json.loads, open(path))]
wall, cpu = time.perf_counter(), time.process_time()
results = [tagger.predict(doc) for doc in docs]
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
en = [[span.score for span in result.spans if span.type == "en"] for result in results]
print(json.dumps({"wall": wall, "cpu": cpu, "en": en}))
"""


class Peer:
    """allenai/dolma 1.2.1's English language tagger at one level, run in its own virtualenv per round."""

    def __init__(self, documents_path: str, level: str) -> None:
        self.documents_path = documents_path
        self.level = level
        self.en: list[list[float]] = []
        self.walls: list[float] = []
        self.cpus: list[float] = []

    def __call__(self) -> None:
        cmd = [PEER_PYTHON, "-c", PEER_SCRIPT, self.documents_path, self.level, LID_MODEL]
        cwd = os.path.dirname(self.documents_path)  # not the repo, whose dolma/ would shadow the peer's
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=cwd).stdout
        result = json.loads(out.strip().splitlines()[-1])
        self.walls.append(result["wall"])
        self.cpus.append(result["cpu"])
        self.en = result["en"]


def _clean(message: object) -> str | None:
    if not isinstance(message, str) or len(message) < 20 or "%" in message:
        return None
    return " ".join(message.split())


def catalogue_messages(path: str) -> tuple[list[str], list[str]]:
    """The translated messages of one catalogue, and their English originals."""
    try:
        with open(path, "rb") as f:
            catalog = gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]
    except (OSError, UnicodeError, ValueError, IndexError, KeyError):  # some catalogues have odd headers
        return [], []
    translated, english = [], []
    for key, value in catalog.items():
        if isinstance(key, str) and key and (text := _clean(value)) and (original := _clean(key)):
            translated.append(text)
            english.append(original)
    return translated, english


def build_corpus(n_docs: int, seed: int = 0) -> list[Document]:
    """``n_docs`` documents of 5-30 messages (one per line) from one catalogue each: its translations, or
    (one pool per software domain) the English originals, so English is one language among many."""
    rng = random.Random(seed)
    pools: list[list[str]] = []
    english: dict[str, list[str]] = {}
    for path in sorted(glob.glob("/usr/share/locale/*/LC_MESSAGES/*.mo")):
        translated, originals = catalogue_messages(path)
        if len(translated) >= 5:
            pools.append(translated)
        if len(originals) >= 5:
            english.setdefault(os.path.basename(path), originals)
    pools += english.values()
    if not pools:
        raise SystemExit("no gettext catalogues under /usr/share/locale: cannot build a multilingual corpus")
    docs = []
    for i in range(n_docs):
        pool = rng.choice(pools)
        lines = rng.sample(pool, min(len(pool), rng.randint(5, 30)))
        docs.append(Document(id=str(i), text="\n".join(lines)))
    return docs


def measure(methods: list[tuple[str, Callable[[], Any]]], runs: int) -> list[tuple[float, float]]:
    """Median wall and CPU seconds of each method over ``runs`` rounds. The methods take turns within each
    round, so a change in the machine's load (it is shared) falls on all of them alike."""
    walls: list[list[float]] = [[] for _ in methods]
    cpus: list[list[float]] = [[] for _ in methods]
    for _ in range(runs):
        for i, (_name, fn) in enumerate(methods):
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            walls[i].append(time.perf_counter() - wall)
            cpus[i].append(time.process_time() - cpu)
    for i, (_name, fn) in enumerate(methods):
        if isinstance(fn, Peer):  # timed inside the peer process: its start-up and model load do not count
            walls[i], cpus[i] = fn.walls, fn.cpus
    return [(statistics.median(w), statistics.median(c)) for w, c in zip(walls, cpus, strict=True)]


def batched(tagger: LanguageId, docs: list[Document]) -> None:
    for i in range(0, len(docs), BATCH):
        tagger.predict_batch(docs[i : i + BATCH])


def read_corpus(pattern: str) -> list[Document]:
    docs = []
    for path in sorted(glob.glob(pattern)):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            docs += [Document(id=row["id"], text=row["text"]) for row in map(json.loads, f)]
    return docs


def agreement(name: str, texts: list[str], reference: Any, k: int, threshold: float) -> None:
    """Our predictions against the fasttext module's on ``texts``: top labels, probabilities, stored scores."""
    ours = fasttext_numpy.load(LID_MODEL)
    assert ours is not None
    predictions = [ours.predict(texts[i : i + BATCH], k=k, threshold=threshold) for i in range(0, len(texts), BATCH)]
    probabilities = np.concatenate([p.probabilities for p in predictions])
    top = np.concatenate([p.top for p in predictions])
    theirs = FastTextModule(reference).predict(texts, k=k, threshold=threshold)
    returned = (probabilities > 0) | (theirs.probabilities > 0)
    stored_ours = np.round(np.minimum(probabilities, 1.0), 5)[returned]
    stored_theirs = np.round(np.minimum(theirs.probabilities, 1.0), 5)[returned]
    differ = int((stored_ours != stored_theirs).sum())
    print(
        f"{name}, k={k}, threshold={threshold}: top label equal on {int((top == theirs.top).sum()):,}/{len(texts):,}; "
        f"same labels returned on {int(((probabilities > 0) == (theirs.probabilities > 0)).all(axis=1).sum()):,}; "
        f"max |p - p_fastText| {np.abs(probabilities - theirs.probabilities).max():.2e}; "
        f"5-decimal scores differing {differ:,}/{int(returned.sum()):,} ({differ / max(int(returned.sum()), 1):.2%}, "
        f"max {np.abs(stored_ours - stored_theirs).max(initial=0):.0e})"
    )


def corpus_suite(pattern: str, runs: int) -> None:
    """numpy vs the fasttext module on real text: speed side by side, then agreement."""
    docs = read_corpus(pattern)
    if not docs:
        print(f"\nno documents match {pattern}: the numpy vs fastText comparison is left out")
        return
    megabytes = sum(len(d.text.encode()) for d in docs) / 1e6
    lines = [fasttext_line(d.text) for d in docs]
    paragraphs = [fasttext_line(d.text[s:e]) for d in docs for s, e in paragraph_bounds(d.text)]
    reference = load_fasttext_module(LID_MODEL)
    print(
        f"\nnumpy vs fastText on {pattern}: {len(docs):,} documents, {len(paragraphs):,} paragraphs, {megabytes:.2f} MB"
    )

    def fasttext_batches(batches: list[list[str]], k: int, threshold: float) -> Callable[[], Any]:
        return lambda: [reference.predict(batch, k=k, threshold=threshold) for batch in batches]

    def numpy_batches(batches: list[list[str]], k: int, threshold: float) -> Callable[[], None]:
        def run() -> None:
            model = fasttext_numpy.load(LID_MODEL)  # an empty token cache each round, as a worker starts
            assert model is not None
            for batch in batches:
                model.predict(batch, k=k, threshold=threshold)

        return run

    def tagger_rounds(params: LanguageId.Params, module: bool) -> Callable[[], None]:
        def run() -> None:
            tagger = LanguageId(params)
            if module:
                tagger.model = FastTextModule(reference)
            batched(tagger, docs)

        return run

    en = LanguageId.Params(languages=["en"])
    para = LanguageId.Params(level="paragraph")
    # one call per 256 documents, as the tagger makes it: their texts, or all their paragraphs
    by_document = [lines[i : i + BATCH] for i in range(0, len(lines), BATCH)]
    by_paragraph = [
        [fasttext_line(d.text[s:e]) for d in docs[i : i + BATCH] for s, e in paragraph_bounds(d.text)]
        for i in range(0, len(docs), BATCH)
    ]
    suites = [
        ("documents", lines, by_document, [(1, 0.0), (-1, 0.001)]),
        ("paragraphs", paragraphs, by_paragraph, [(1, 0.0), (-1, 0.001)]),
    ]
    for title, texts, batches, settings in suites:
        methods: list[tuple[str, Callable[[], Any]]] = []
        for k, threshold in settings:
            methods.append((f"fastText predict, k={k}, threshold={threshold}", fasttext_batches(batches, k, threshold)))
            methods.append((f"numpy predict,    k={k}, threshold={threshold}", numpy_batches(batches, k, threshold)))
        heading = f"{title}: {len(texts):,} predictions, one call per {BATCH} documents"
        report(heading, len(texts), megabytes, methods, runs)
    taggers = [
        ("language tagger, languages: [en], fastText module", tagger_rounds(en, True)),
        ("language tagger, languages: [en], numpy", tagger_rounds(en, False)),
        ("language tagger, level: paragraph, fastText module", tagger_rounds(para, True)),
        ("language tagger, level: paragraph, numpy", tagger_rounds(para, False)),
    ]
    report("language tagger on the same documents", len(docs), megabytes, taggers, runs)
    print()
    for title, texts, _batches, settings in suites:
        for k, threshold in [*settings, (-1, 5e-6)]:
            agreement(title, texts, reference, k, threshold)
    one_by_one = [reference.predict(text, k=1)[0][0] for text in lines]  # fastText's own call, one document each
    ours = fasttext_numpy.load(LID_MODEL)
    assert ours is not None
    top = np.concatenate([ours.predict(lines[i : i + BATCH]).top for i in range(0, len(lines), BATCH)])
    same = sum(ours.labels[t] == label for t, label in zip(top.tolist(), one_by_one, strict=True))
    print(f"documents: numpy top label vs fastText's predict(text) one document at a time: {same:,}/{len(lines):,}")


def report(title: str, count: int, megabytes: float, methods: list[tuple[str, Callable[[], Any]]], runs: int) -> None:
    print(f"\n{title}")
    print(f"{'method':<58}{'wall s':>8}{'pred/s':>10}{'CPU s/MB':>10}{'vs first':>10}")
    timings = measure(methods, runs)
    base = timings[0][1]
    for (name, _fn), (wall, cpu) in zip(methods, timings, strict=True):
        print(f"{name:<58}{wall:>8.3f}{count / wall:>10,.0f}{cpu / megabytes:>10.3f}{base / cpu:>9.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--corpus", default=os.path.join(HERE, "work", "tagger_corpus", "documents", "*.jsonl.gz"))
    parser.add_argument("--no-gettext", action="store_true", help="only the numpy vs fastText comparison")
    args = parser.parse_args()
    if not args.no_gettext:
        gettext_suite(args)
    corpus_suite(args.corpus, args.runs)


def gettext_suite(args: argparse.Namespace) -> None:
    docs = build_corpus(args.docs)
    megabytes = sum(len(d.text.encode()) for d in docs) / 1e6
    lines = [d.text.replace("\n", " ") for d in docs]
    paragraphs = [d.text[s:e].replace("\n", " ") for d in docs for s, e in paragraph_bounds(d.text)]
    doc_tagger = LanguageId(LanguageId.Params())
    plain_tagger = LanguageId(LanguageId.Params(close_pairs=False))
    en_tagger = LanguageId(LanguageId.Params(languages=["en"]))
    en_exact = LanguageId(LanguageId.Params(languages=["en"], min_score=5e-6))
    para_tagger = LanguageId(LanguageId.Params(level="paragraph"))
    para_plain = LanguageId(LanguageId.Params(level="paragraph", close_pairs=False))
    para_en = LanguageId(LanguageId.Params(level="paragraph", languages=["en"]))
    para_en_exact = LanguageId(LanguageId.Params(level="paragraph", languages=["en"], min_score=5e-6))
    model = load_fasttext_module(LID_MODEL)
    print(f"corpus: {len(docs):,} documents, {len(paragraphs):,} paragraphs, {megabytes:.2f} MB, {args.runs} runs")

    mismatches = moved = 0
    for doc, plain, paired in zip(docs, plain_tagger.predict_batch(docs), doc_tagger.predict_batch(docs), strict=True):
        (top,) = [k for k in plain if k.startswith("top_")]
        mismatches += top != "top_" + model.predict(doc.text.replace("\n", " "))[0][0].removeprefix("__label__")
        moved += top not in paired
    print(
        f"tagger top-1 (close_pairs: false) vs fastText per-document predict: {len(docs) - mismatches:,}/{len(docs):,} "
        f"agree; the close-pair rules move {moved:,} of them"
    )

    def per_doc(texts: list[str], k: int = 1) -> Callable[[], None]:
        return lambda: [model.predict(t, k=k) for t in texts]

    def as_list(texts: list[str]) -> Callable[[], None]:
        return lambda: [model.predict(texts[i : i + BATCH], k=1) for i in range(0, len(texts), BATCH)]

    lowered = [t.lower().strip() for t in lines]
    peers: dict[str, Peer] = {}
    if os.path.exists(PEER_PYTHON):
        work = os.path.join(HERE, "work", "language")
        os.makedirs(work, exist_ok=True)
        documents_path = os.path.join(work, "documents.jsonl")
        with open(documents_path, "w", encoding="utf-8") as f:
            f.writelines(json.dumps({"id": d.id, "text": d.text}) + "\n" for d in docs)
        peers = {level: Peer(documents_path, level) for level in ("document", "paragraph")}
    else:
        print(f"allenai/dolma 1.2.1 not found ({PEER_PYTHON}; set DOLMA_PEER): its rows are left out")
    peer_names = {"document": "ft_lang_id_en_doc_v2", "paragraph": "ft_lang_id_en_paragraph_v2"}
    peer_rows = {level: [(f"allenai/dolma 1.2.1 {peer_names[level]}", peer)] for level, peer in peers.items()}
    suites = [
        (
            "document level",
            len(docs),
            [
                ("fastText predict, one call per document", per_doc(lines)),
                ("fastText predict on a list (batches of 256)", as_list(lines)),
                ("language tagger, predict_batch (top language)", lambda: batched(doc_tagger, docs)),
                ("language tagger, close_pairs: false", lambda: batched(plain_tagger, docs)),
                ("language tagger, languages: [en]", lambda: batched(en_tagger, docs)),
                ("language tagger, languages: [en], min_score: 5e-6", lambda: batched(en_exact, docs)),
                ("dolma-style: lower-case, k=-1, one call per document", per_doc(lowered, k=-1)),
                *peer_rows.get("document", []),
            ],
        ),
        (
            "paragraph level",
            len(paragraphs),
            [
                ("fastText predict, one call per paragraph", per_doc(paragraphs)),
                ("fastText predict on a list (batches of 256)", as_list(paragraphs)),
                ("language tagger, level: paragraph", lambda: batched(para_tagger, docs)),
                ("language tagger, level: paragraph, close_pairs: false", lambda: batched(para_plain, docs)),
                ("language tagger, paragraph, languages: [en]", lambda: batched(para_en, docs)),
                ("language tagger, paragraph, [en], min_score: 5e-6", lambda: batched(para_en_exact, docs)),
                *peer_rows.get("paragraph", []),
            ],
        ),
    ]
    for title, count, methods in suites:
        print(f"\n{title}: {count:,} predictions")
        print(f"{'method':<58}{'wall s':>8}{'pred/s':>10}{'CPU s/MB':>10}{'vs first':>10}")
        timings = measure(methods, args.runs)
        base = timings[0][0]
        for (name, _fn), (wall, cpu) in zip(methods, timings, strict=True):
            print(f"{name:<58}{wall:>8.3f}{count / wall:>10,.0f}{cpu / megabytes:>10.3f}{base / wall:>9.2f}x")
    if "document" in peers:
        ours = [attributes["en"][0][2] >= 0.5 for attributes in en_tagger.predict_batch(docs)]
        theirs = [bool(scores) and scores[0] >= 0.5 for scores in peers["document"].en]
        same = sum(a == b for a, b in zip(ours, theirs, strict=True))
        print(
            f"\nEnglish (en >= 0.5) decisions, ours vs allenai/dolma 1.2.1 on the same model: {same:,}/{len(docs):,} "
            f"documents agree ({sum(ours):,} vs {sum(theirs):,} English); dolma lower-cases the text, we do not"
        )


if __name__ == "__main__":
    main()
