"""Rebuild the bundled sample corpus from real English text found on a Debian machine.

Sources: the plain-text help of Python standard-library modules (PSF licence), Debian's common licence
texts, and README files under /usr/share/doc. On top of that, a few planted cases so every pipeline step has
something to find: exact and near duplicates, e-mail addresses and phone numbers, short boilerplate pages,
and paragraphs in other languages (written for this corpus).

    python configs/sample/build.py   # writes configs/sample/documents/<source>/0000.jsonl.gz
"""

from __future__ import annotations

import glob
import gzip
import json
import os
import pydoc
import random
import re

HERE = os.path.dirname(os.path.abspath(__file__))
MODULES = (
    "json csv gzip zipfile tarfile shutil pathlib argparse logging heapq bisect collections itertools functools "
    "textwrap difflib string re datetime calendar random statistics fractions decimal hashlib hmac secrets uuid "
    "urllib.parse http.client socket selectors threading queue sched subprocess tempfile glob fnmatch sqlite3 "
    "pickle copy pprint enum dataclasses contextlib abc typing unittest doctest timeit trace tracemalloc gc "
    "inspect dis ast tokenize keyword operator weakref array struct codecs locale gettext base64 binascii"
).split()
FOREIGN = [
    (
        "fr",
        "Le traitement des données textuelles demande de la patience. Chaque document est lu, nettoyé, "
        "puis comparé aux autres afin de retirer les doublons avant l'entraînement du modèle.",
    ),
    (
        "de",
        "Die Verarbeitung großer Textmengen erfordert sorgfältige Filter. Jedes Dokument wird gelesen, "
        "bewertet und nur dann behalten, wenn es die Qualitätsregeln erfüllt.",
    ),
    (
        "es",
        "El conjunto de datos se divide en fragmentos comprimidos. Cada fragmento se procesa por separado "
        "y los resultados se escriben junto a los documentos originales.",
    ),
    (
        "it",
        "La qualità del testo dipende dalla fonte. Le pagine con troppi simboli o con righe ripetute "
        "vengono scartate prima di costruire la miscela di addestramento.",
    ),
    (
        "pt",
        "Os documentos duplicados são marcados durante a deduplicação e removidos pelo misturador, que "
        "também pode mascarar endereços de correio eletrónico e números de telefone.",
    ),
    (
        "nl",
        "Een goed trainingscorpus bevat gevarieerde teksten van hoge kwaliteit uit veel verschillende "
        "bronnen, zonder herhalingen en zonder persoonlijke gegevens.",
    ),
]
PII = [
    "For support write to maintainer.team@example.org or call +1 (555) 010-2233 during office hours.",
    "Send bug reports to jane.doe@example.com; the build server at 192.0.2.17 publishes nightly snapshots.",
    "Contact: sales@example.net, phone 555-867-5309, fax 555-010-4477.",
]
BOILERPLATE = ["Click here to accept cookies.", "Page not found.", "Loading...", "Subscribe to our newsletter!"]


def chunks(text: str, min_chars: int = 400, max_chars: int = 4000) -> list[str]:
    """Split text at blank lines into documents of a few paragraphs."""
    out, current = [], ""
    for para in re.split(r"\n\s*\n", text):
        para = para.strip("\n")
        if not para.strip():
            continue
        current = f"{current}\n\n{para}" if current else para
        if len(current) >= min_chars:
            out.append(current[:max_chars])
            current = ""
    if current and len(current) > 80:
        out.append(current)
    return out


def python_docs() -> list[str]:
    docs = []
    for name in MODULES:
        try:
            text = pydoc.render_doc(name, renderer=pydoc.plaintext)
        except (ImportError, pydoc.ErrorDuringImport):
            continue
        docs.extend(chunks(text)[:6])
    return docs


def licenses() -> list[str]:
    docs = []
    for path in sorted(glob.glob("/usr/share/common-licenses/*")):
        if os.path.isfile(path) and not os.path.islink(path):
            docs.extend(chunks(open(path, encoding="utf-8", errors="replace").read())[:8])
    return docs


def readmes() -> list[str]:
    docs = []
    for path in sorted(glob.glob("/usr/share/doc/*/README*"))[:150]:
        opener = gzip.open if path.endswith(".gz") else open
        try:
            with opener(path, "rt", encoding="utf-8", errors="replace") as f:
                text = f.read(20000)
        except OSError:
            continue
        docs.extend(chunks(text)[:2])
    return docs


def edit_words(text: str, rng: random.Random, fraction: float) -> str:
    words = text.split(" ")
    for i in rng.sample(range(len(words)), max(1, int(len(words) * fraction))):
        words[i] = rng.choice(["data", "model", "corpus", "shard", "token"])
    return " ".join(words)


def main() -> None:
    rng = random.Random(1124)
    sources = {"python-docs": python_docs(), "licenses": licenses(), "readmes": readmes()}
    planted = sources["readmes"]
    base = list(sources["python-docs"])
    planted.extend(rng.choice(base) for _ in range(8))  # exact duplicates across sources
    planted.extend(edit_words(rng.choice(base), rng, 0.03) for _ in range(8))  # near duplicates
    planted.extend(f"{rng.choice(base)}\n\n{rng.choice(PII)}" for _ in range(10))
    planted.extend(BOILERPLATE)
    planted.extend(f"{text}\n\n{text}" for _, text in FOREIGN)
    for source, texts in sources.items():
        path = os.path.join(HERE, "documents", source, "0000.jsonl.gz")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with gzip.GzipFile(path, "wb", compresslevel=9, mtime=0) as out:
            for i, text in enumerate(texts):
                doc = {
                    "id": f"{source}-{i:05d}",
                    "text": text,
                    "source": source,
                    "added": "2026-11-26T00:00:00.000Z",
                    "created": "2026-11-26T00:00:00.000Z",
                    "metadata": {"url": f"https://{source}.example.org/{i}"},
                }
                out.write(json.dumps(doc, ensure_ascii=False).encode() + b"\n")
        print(f"{path}: {len(texts)} documents")


if __name__ == "__main__":
    main()
