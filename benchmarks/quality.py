"""Curation quality on real text: PII detection, language identification and MinHash near-duplicates, each
beside allenai/dolma 1.2.1's taggers on the same labelled sets.

    python benchmarks/quality.py [--pii-docs 1500] [--no-language] [--no-pii] [--no-minhash] [--no-peer]

- PII (:mod:`pii_set`): precision, recall and F1 per class (e-mail, phone, IPv4, payment card; phone recall
  split into North American and international), and how many planted look-alikes each tool flags, by kind.
  A detected span counts for a planted item it overlaps (dolma's spans include the spaces around a number).
- Language ID (:mod:`language_set`): on two sets (UI strings, and documents: manual pages, debconf questions,
  catalogue documents), each split in a dev and a test half, top-1 accuracy overall, by length or kind and
  per language, and the macro mean over languages, with CPU seconds per MB, for every identifier this
  project offers and for dolma's
  ``ft_lang_id_doc_v1`` on the same lid.176 model (dolma downloads ``lid.176.bin`` at start, which cannot
  happen here: its tagger is run unchanged but for ``MODEL_PATH``).
- MinHash: ``minhash_quality()`` and ``print_quality()`` of :mod:`minhash_quality` (precision and recall by
  bucket of true Jaccard, with planted near-duplicates and numeric tables).

dolma's taggers run in its own virtualenv (``$DOLMA_PEER``, default /work/peers_dolma) through a small script
fed the same documents; its rows are left out when that virtualenv is absent.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import language_set  # noqa: E402
import pii_set  # noqa: E402
from dolma.taggers.pii import detect  # noqa: E402

from dolma import Document  # noqa: E402

PEER = os.environ.get("DOLMA_PEER", "/work/peers_dolma")
PEER_PYTHON = os.path.join(PEER, "bin", "python")
LID_MODEL = os.path.join(os.path.dirname(HERE), "taggers", "resources", "lid.176.ftz")
PHONE_CLASSES = ("phone_us", "phone_intl")
DETECTED_AS = {"email": "email", "phone_us": "phone", "phone_intl": "phone", "ip": "ip", "credit_card": "credit_card"}

PEER_PII = """
import json, sys
from dolma.core.data_types import Document
from dolma.taggers.pii import PiiRegexV2
names = {"EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone", "IP_ADDRESS": "ip"}
tagger = PiiRegexV2()
for line in open(sys.argv[1]):
    row = json.loads(line)
    result = tagger.predict(Document(source="q", id=row["id"], text=row["text"]))
    found = {}
    for span in result.spans:
        if span.type in names:
            found.setdefault(names[span.type], []).append([span.start, span.end])
    print(json.dumps(found))
"""

PEER_LANGUAGE = """
import json, sys, time
from dolma.core.data_types import Document
from dolma.taggers.language import FastTextAllLanguagesDocumentTagger
tagger = type("Local", (FastTextAllLanguagesDocumentTagger,), {"MODEL_PATH": sys.argv[2]})()
texts = [json.loads(line) for line in open(sys.argv[1])]
started = time.process_time()
tops = []
for i, text in enumerate(texts):
    spans = tagger.predict(Document(source="q", id=str(i), text=text)).spans
    tops.append(max(spans, key=lambda s: s.score).type if spans else "un")
print(json.dumps({"cpu": time.process_time() - started, "top": tops}))
"""


def run_peer(script: str, *args: str) -> list[str]:
    """stdout lines of ``script`` run by dolma's Python, from a directory where our ``dolma/`` is not on the path."""
    with tempfile.TemporaryDirectory() as cwd:
        cmd = [PEER_PYTHON, "-c", script, *args]
        return subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=cwd).stdout.splitlines()


# ---------------------------------------------------------------- PII


def score_pii(docs: Sequence[pii_set.PiiDocument], found: Sequence[dict[str, list[tuple[int, int]]]]) -> dict:
    """Per class: true positives, planted items, false positives; look-alikes flagged, by kind."""
    hits: collections.Counter[str] = collections.Counter()
    planted: collections.Counter[str] = collections.Counter()
    false_positives: collections.Counter[str] = collections.Counter()
    detected: collections.Counter[str] = collections.Counter()
    lookalikes: collections.Counter[str] = collections.Counter()
    for doc, spans in zip(docs, found, strict=True):
        for item in doc.planted:
            if item.kind in DETECTED_AS:
                planted[item.kind] += 1
                kind = DETECTED_AS[item.kind]
                hits[item.kind] += any(s < item.end and item.start < e for s, e in spans.get(kind, []))
            else:
                flagged = any(s < item.end and item.start < e for kind_spans in spans.values() for s, e in kind_spans)
                lookalikes[item.kind] += flagged
        for kind, kind_spans in spans.items():
            for s, e in kind_spans:
                detected[kind] += 1
                truth = [p for p in doc.planted if p.start < e and s < p.end and DETECTED_AS.get(p.kind) == kind]
                false_positives[kind] += not truth
    return {"hits": hits, "planted": planted, "fp": false_positives, "detected": detected, "lookalikes": lookalikes}


def prf(tp: int, planted: int, fp: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / planted if planted else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def pii_rows(score: dict) -> dict[str, tuple[float, float, float]]:
    hits, planted, fp = score["hits"], score["planted"], score["fp"]
    rows = {kind: prf(hits[kind], planted[kind], fp[kind]) for kind in ("email", "ip", "credit_card")}
    rows["phone"] = prf(sum(hits[c] for c in PHONE_CLASSES), sum(planted[c] for c in PHONE_CLASSES), fp["phone"])
    return rows


def pii_section(documents: int, peer: bool) -> dict:
    docs = pii_set.build(documents)
    megabytes = sum(len(d.text.encode()) for d in docs) / 1e6
    started = time.process_time()
    ours = [detect(d.text) for d in docs]
    cpu = time.process_time() - started
    scores = {"this project (pii)": score_pii(docs, ours)}
    if peer:
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
            f.writelines(json.dumps({"id": d.id, "text": d.text}) + "\n" for d in docs)
        theirs = [
            {k: [tuple(span) for span in v] for k, v in json.loads(line).items()} for line in run_peer(PEER_PII, f.name)
        ]
        os.unlink(f.name)
        scores["allenai/dolma 1.2.1 pii_regex_v2"] = score_pii(docs, theirs)
    counts = scores["this project (pii)"]["planted"]
    n_lookalikes = sum(1 for d in docs for p in d.planted if p.kind not in DETECTED_AS)
    print(
        f"\nPII: {len(docs):,} documents, {megabytes:.2f} MB; planted "
        + ", ".join(f"{k} {counts[k]}" for k in DETECTED_AS)
        + f"; {n_lookalikes} look-alikes; our detect() {cpu / megabytes:.3f} CPU s/MB"
    )
    names = list(scores)
    print(f"{'class':<22}" + "".join(f"{n[:34]:>36}" for n in names))
    print(f"{'':<22}" + "".join(f"{'precision  recall      F1':>36}" for _ in names))
    rows = {name: pii_rows(score) for name, score in scores.items()}
    for kind in ("email", "phone", "ip", "credit_card"):
        cells = []
        for name in names:
            p, r, f1 = rows[name][kind]
            cells.append(f"{p:>14.3f}{r:>10.3f}{f1:>10.3f}" if scores[name]["detected"][kind] or r else f"{'none':>34}")
        print(f"{kind:<22}" + "".join(f"{c:>36}" for c in cells))
    for kind in PHONE_CLASSES:
        cells = [f"{scores[n]['hits'][kind] / max(scores[n]['planted'][kind], 1):>34.3f}" for n in names]
        print(f"{'  recall ' + kind:<22}" + "".join(f"{c:>36}" for c in cells))
    print(f"{'look-alikes flagged':<22}" + "".join(f"{sum(scores[n]['lookalikes'].values()):>36}" for n in names))
    for kind in pii_set.LOOKALIKE_CLASSES:
        cells = [f"{scores[n]['lookalikes'][kind]:>36}" for n in names]
        print(f"{'  ' + kind:<22}" + "".join(cells))
    return {name: {"rows": rows[name], "lookalikes": sum(scores[name]["lookalikes"].values())} for name in names}


# ---------------------------------------------------------------- language ID


Identifier = Callable[[Sequence[str]], list[str]]


PREDICTIONS = os.path.join(HERE, "work", "language", "predictions.json")
"""Every identifier's answer per sample of both sets, kept for studying combinations on the dev halves."""


def language_sets() -> dict[str, list[language_set.Sample]]:
    """Both labelled sets, restricted to the languages lid.176 names (and, in the document set, to languages
    with 10+ documents)."""
    from dolma.taggers.classifiers import model_labels
    from dolma.taggers.language import load_language_model

    known = set(model_labels(load_language_model(None)))
    documents = [s for s in language_set.build_documents() if s.language in known]
    counts = collections.Counter(s.language for s in documents)
    return {
        "UI strings set": [s for s in language_set.build() if s.language in known],
        "document-like set": [s for s in documents if counts[s.language] >= 10],
    }


def language_section(identifiers: dict[str, Identifier], peer: bool) -> None:
    saved: dict[str, object] = {}
    for title, samples in language_sets().items():
        texts = [s.text for s in samples]
        megabytes = sum(len(t.encode()) for t in texts) / 1e6
        results: dict[str, tuple[list[str], float]] = {}
        for name, identify in identifiers.items():
            started = time.process_time()
            predicted = identify(texts)
            results[name] = (predicted, time.process_time() - started)
        if peer:
            with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
                f.writelines(json.dumps(t) + "\n" for t in texts)
            out = json.loads(run_peer(PEER_LANGUAGE, f.name, LID_MODEL)[-1])
            os.unlink(f.name)
            results["allenai/dolma 1.2.1 ft_lang_id_doc_v1"] = (out["top"], out["cpu"])
        saved[title] = {
            "samples": [[s.language, s.length, s.source, s.text] for s in samples],
            "predicted": {name: predicted for name, (predicted, _) in results.items()},
        }
        dev, test = language_set.halves(list(range(len(samples))), [s.text for s in samples])
        print(f"\n== language ID, {title}: {len(samples):,} samples, {megabytes:.2f} MB ==")
        for half, rows in (("test half", test), ("dev half", dev)):
            print_language_table(f"{title}, {half}", [samples[i] for i in rows], results, rows, megabytes)
    os.makedirs(os.path.dirname(PREDICTIONS), exist_ok=True)
    with open(PREDICTIONS, "w") as f:
        json.dump(saved, f)


def print_language_table(
    title: str,
    samples: list[language_set.Sample],
    results: dict[str, tuple[list[str], float]],
    rows: list[int],
    megabytes: float,
) -> None:
    """Top-1 overall, macro over languages, by length, CPU s/MB (of the whole set), then per language."""
    languages = sorted({s.language for s in samples})
    lengths = sorted({s.length for s in samples})
    print(f"\n{title}: {len(samples):,} samples, {len(languages)} languages")
    print(f"{'identifier':<48}{'top-1':>8}{'macro':>8}" + "".join(f"{k[:7]:>8}" for k in lengths) + f"{'CPU s/MB':>10}")
    per_language: dict[str, dict[str, float]] = {}
    for name, (all_predicted, cpu) in results.items():
        predicted = [all_predicted[i] for i in rows]
        right = [p == s.language for p, s in zip(predicted, samples, strict=True)]
        by_language: dict[str, list[bool]] = collections.defaultdict(list)
        by_length: dict[str, list[bool]] = collections.defaultdict(list)
        for ok, s in zip(right, samples, strict=True):
            by_language[s.language].append(ok)
            by_length[s.length].append(ok)
        per_language[name] = {lang: sum(v) / len(v) for lang, v in by_language.items()}
        macro = sum(per_language[name].values()) / len(languages)
        cells = "".join(f"{sum(by_length[k]) / len(by_length[k]):>8.4f}" for k in lengths)
        print(f"{name[:47]:<48}{sum(right) / len(right):>8.4f}{macro:>8.4f}{cells}{cpu / megabytes:>10.3f}")
    names = list(results)
    print("per language (top-1)")
    print(f"{'lang':<6}" + "".join(f"{n[:12]:>13}" for n in names))
    for lang in languages:
        print(f"{lang:<6}" + "".join(f"{per_language[n][lang]:>13.2f}" for n in names))


def tagger_identifier(params: object, tagger_class: type) -> Identifier:
    """Top language of a language tagger, ``un`` when it names none."""

    def identify(texts: Sequence[str]) -> list[str]:
        tagger = tagger_class(params)
        tops = []
        for i in range(0, len(texts), 256):
            batch = [Document(id=str(j), text=t) for j, t in enumerate(texts[i : i + 256])]
            for attributes in tagger.predict_batch(batch):
                top = [k.removeprefix("top_") for k in attributes if k.startswith("top_")]
                tops.append(top[0] if top else "un")
        return tops

    return identify


def our_identifiers() -> dict[str, Identifier]:
    from dolma.taggers.classifiers import model_labels
    from dolma.taggers.language import LanguageId, load_language_model
    from dolma.taggers.language_vote import LanguageLangId, LanguageVote, cld2_language

    fasttext = load_language_model(None)
    labels = model_labels(fasttext)

    def lowered(texts: Sequence[str]) -> list[str]:
        """dolma's normalisation before lid.176: lower-case, lines joined, stripped."""
        tops = fasttext.predict([t.lower().replace("\n", " ").strip() for t in texts], 1, 0.0).top.tolist()
        return [labels[t] if t >= 0 else "un" for t in tops]

    identifiers: dict[str, Identifier] = {
        "language (lid.176 + close pairs, the default)": tagger_identifier(LanguageId.Params(), LanguageId),
        "language, close_pairs: false (lid.176 alone)": tagger_identifier(
            LanguageId.Params(close_pairs=False), LanguageId
        ),
        "lid.176 on lower-cased text (dolma's way)": lowered,
        "CLD2 (pycld2)": lambda texts: [cld2_language(t) or "un" for t in texts],
        "language_langid (langid.py)": tagger_identifier(LanguageLangId.Params(close_pairs=False), LanguageLangId),
        "language_vote (lid.176 + CLD2 + langid.py + pairs)": tagger_identifier(LanguageVote.Params(), LanguageVote),
        "language_vote, close_pairs: false": tagger_identifier(LanguageVote.Params(close_pairs=False), LanguageVote),
    }
    identifiers.update(extra_identifiers())
    return identifiers


def extra_identifiers() -> dict[str, Identifier]:
    """Identifiers measured but not offered as taggers, when installed (``pip install cld3-py
    lingua-language-detector heliport``): CLD3, Lingua (75 languages; ``nb`` read as ``no``) and heliport
    (HeLI-OTS in Rust, 220 languages, GPL-3.0, 129 MB installed)."""
    found: dict[str, Identifier] = {}
    try:
        import gcld3

        cld3 = gcld3.NNetLanguageIdentifier(min_num_bytes=0, max_num_bytes=4000)
        found["CLD3 (cld3-py)"] = lambda texts: [cld3.FindLanguage(text=t).language.split("-")[0] for t in texts]
    except ImportError:
        pass
    try:
        from lingua import LanguageDetectorBuilder

        lingua = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build()

        def lingua_top(texts: Sequence[str]) -> list[str]:
            out = []
            for language in lingua.detect_languages_in_parallel_of(list(texts)):
                code = language.iso_code_639_1.name.lower() if language is not None else "un"
                out.append("no" if code == "nb" else code)
            return out

        found["Lingua (high accuracy)"] = lingua_top
    except ImportError:
        pass
    try:
        import heliport

        helper = heliport.Identifier()
        found["heliport (HeLI-OTS)"] = lambda texts: [
            HELIPORT_CODES.get(code, code) for code in (helper.identify(t, ignore_confidence=True) for t in texts)
        ]
    except ImportError:
        pass
    return found


HELIPORT_CODES = dict(
    pair.split(":")
    for pair in (
        "afr:af ara:ar asm:as aze:az bel:be bul:bg ben:bn bre:br cat:ca ces:cs cym:cy dan:da deu:de ell:el "
        "eng:en epo:eo spa:es est:et eus:eu pes:fa fin:fi fra:fr gle:ga gla:gd glg:gl guj:gu heb:he hin:hi "
        "hun:hu hye:hy ina:ia isl:is ita:it jpn:ja kat:ka kaz:kk khm:km kan:kn kor:ko kmr:ku kir:ky lit:lt "
        "lav:lv mkd:mk mal:ml mon:mn mar:mr msa:ms nep:ne nld:nl nno:nn nob:no oci:oc ori:or pan:pa pol:pl "
        "por:pt ron:ro rus:ru sin:si slk:sk slv:sl sqi:sq swe:sv tam:ta tel:te tgk:tg tha:th tgl:tl tur:tr "
        "uig:ug ukr:uk vie:vi wln:wa yid:yi cmn:zh lat:la ltz:lb uzn:uz"
    ).split()
)
"""heliport's ISO 639-3 answers as lid.176's codes. It names Bosnian, Croatian and Serbian together (``hbs``)
and Malay with Indonesian (``msa``, read as ``ms``), and not Aragonese, Asturian, Limburgish or Maithili."""


def close_pair_false_moves() -> None:
    """Precision of the close-pair rules where any move is wrong: every gettext catalogue of a language the
    rules may move away from (Hindi, Dutch, Croatian, Spanish, Italian...), its messages one by one and joined
    40 at a time per program, each given the right answer; a move to the small language is a false move."""
    from dolma.taggers.close_pairs import RULES, refine

    neighbours = sorted({n for rule in RULES for n in rule.neighbours})
    print("\n== close-pair rules: false moves on text of the neighbour languages (all their catalogues) ==")
    print(f"{'lang':<6}{'documents':>11}{'moved':>7}{'messages':>10}{'moved':>7}")
    totals = [0, 0, 0, 0]
    for lang in neighbours:
        programs = language_set.pools().get(lang, {})
        messages = [m for program in programs.values() for m in program]
        documents = ["\n".join(ms[i : i + 40]) for ms in programs.values() for i in range(0, len(ms), 40)]
        if not messages:
            continue
        row = [
            len(documents),
            sum(refine(lang, d) is not None for d in documents),
            len(messages),
            sum(refine(lang, m) is not None for m in messages),
        ]
        totals = [t + r for t, r in zip(totals, row, strict=True)]
        print(f"{lang:<6}{row[0]:>11,}{row[1]:>7,}{row[2]:>10,}{row[3]:>7,}")
    print(f"{'all':<6}{totals[0]:>11,}{totals[1]:>7,}{totals[2]:>10,}{totals[3]:>7,}")


def minhash_section() -> None:
    """MinHash precision and recall by Jaccard bucket, from benchmarks/minhash_quality.py (its own section)."""
    try:
        from minhash_quality import minhash_quality, print_quality
    except ImportError as exc:
        print(f"\nMinHash: benchmarks/minhash_quality.py cannot be used ({exc}): section left out")
        return
    print_quality(minhash_quality())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pii-docs", type=int, default=1500)
    parser.add_argument("--no-pii", action="store_true")
    parser.add_argument("--no-language", action="store_true")
    parser.add_argument("--no-minhash", action="store_true")
    parser.add_argument("--no-peer", action="store_true", help="leave out allenai/dolma 1.2.1")
    args = parser.parse_args()
    peer = not args.no_peer and os.path.exists(PEER_PYTHON)
    if not peer and not args.no_peer:
        print(f"allenai/dolma 1.2.1 not found ({PEER_PYTHON}; set DOLMA_PEER): its columns are left out")
    print(f"load: {os.getloadavg()[0]:.1f}")
    if not args.no_pii:
        pii_section(args.pii_docs, peer)
    if not args.no_language:
        language_section(our_identifiers(), peer)
        close_pair_false_moves()
    if not args.no_minhash:
        minhash_section()


if __name__ == "__main__":
    main()
