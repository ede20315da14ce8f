"""Build a corpus of real English text from this machine, for the tagger agreement and speed benchmarks.

There is no network, so the text comes from what a Debian machine carries: licence texts, package
copyright files, READMEs and changelogs, man pages, Debian package descriptions and Python standard
library docstrings. A seeded share of documents is then varied with the patterns the quality and PII
taggers look at (bullets, ellipses, repeated lines, e-mails, IPs, phone numbers, version strings, dates,
numeric tables, curly braces, "lorem ipsum"), so every rule fires on some documents and not on others.

    python benchmarks/make_tagger_corpus.py [--out benchmarks/work/tagger_corpus] [--shards 4]

Writes ``<out>/documents/shard-0000N.jsonl.gz``; the same seed gives the same corpus on the same machine.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import importlib
import inspect
import json
import os
import pkgutil
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

MAX_DOC_CHARS = 60_000


def read_text(path: str) -> str:
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            return fh.read(MAX_DOC_CHARS)
    except (OSError, EOFError):
        return ""


def licence_docs() -> Iterator[tuple[str, str]]:
    for path in sorted(glob.glob("/usr/share/common-licenses/*")):
        if os.path.isfile(path):
            yield "licenses", read_text(path)


def package_docs() -> Iterator[tuple[str, str]]:
    patterns = ["copyright", "README*", "changelog.Debian.gz", "NEWS*", "*.md", "*.txt"]
    for package in sorted(os.listdir("/usr/share/doc")):
        for pattern in patterns:
            for path in sorted(glob.glob(os.path.join("/usr/share/doc", package, pattern))):
                if os.path.isfile(path) and not path.endswith((".html", ".png")):
                    yield "usr_share_doc", read_text(path)


def man_docs(limit: int) -> Iterator[tuple[str, str]]:
    if shutil.which("man") is None:
        return
    pages = sorted(glob.glob("/usr/share/man/man1/*.gz"))[
        :: max(1, len(glob.glob("/usr/share/man/man1/*.gz")) // limit)
    ]
    env = dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0")

    def render(page: str) -> str:
        run = subprocess.run(["man", "-P", "cat", page], capture_output=True, text=True, env=env, timeout=30)
        return run.stdout[:MAX_DOC_CHARS]

    with ThreadPoolExecutor(4) as pool:
        for text in pool.map(render, pages[:limit]):
            yield "man", text


def debian_descriptions(rng: random.Random) -> Iterator[tuple[str, str]]:
    lists = sorted(glob.glob("/var/lib/apt/lists/*Packages*"))
    raw = ""
    for path in lists:
        if path.endswith(".lz4") and shutil.which("lz4"):
            raw = subprocess.run(["lz4", "-dc", path], capture_output=True, text=True).stdout
        elif not path.endswith(".lz4"):
            raw = read_text(path)
        if raw:
            break
    descriptions: list[str] = []
    for record in raw.split("\n\n"):
        lines = record.split("\n")
        for i, line in enumerate(lines):
            if line.startswith("Description:"):
                body = [line[len("Description:") :].strip()]
                for more in lines[i + 1 :]:
                    if not more.startswith(" "):
                        break
                    body.append("" if more.strip() == "." else more.strip())
                descriptions.append("\n".join(body))
                break
    while descriptions:
        take = rng.randint(1, 12)
        yield "debian_descriptions", "\n\n".join(descriptions[:take])
        descriptions = descriptions[take:]


def docstring_docs(limit: int) -> Iterator[tuple[str, str]]:
    skip = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "test", "lib2to3", "ensurepip"}
    names = sorted(m.name for m in pkgutil.iter_modules() if m.name in sys.stdlib_module_names and m.name not in skip)
    for name in names[:limit]:
        try:
            module = importlib.import_module(name)
        except Exception:
            continue
        parts = [inspect.getdoc(module) or ""]
        for _attr, obj in sorted(vars(module).items()):
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and getattr(obj, "__module__", None) == name:
                doc = inspect.getdoc(obj)
                if doc:
                    parts.append(f"{obj.__name__}\n{doc}")
        text = "\n\n".join(p for p in parts if p)
        if text:
            yield "python_docstrings", text[:MAX_DOC_CHARS]


def split_long(text: str, rng: random.Random) -> Iterator[str]:
    """Cut long texts at paragraph boundaries into documents of varied length (a few words to ~30k chars)."""
    paragraphs = text.split("\n\n")
    while paragraphs:
        target = rng.choice([200, 800, 2_000, 5_000, 12_000, 30_000])
        taken, size = [], 0
        while paragraphs and size < target:
            taken.append(paragraphs.pop(0))
            size += len(taken[-1])
        yield "\n\n".join(taken)


def fake_email(rng: random.Random) -> str:
    user = rng.choice(["john.smith", "maint", "a.b-c", "info", "bugs+debian", "x_y"])
    host = rng.choice(["example.com", "debian.org", "mail.example.co.uk", "lists.alioth.debian.org"])
    return f"{user}@{host}"


def fake_phone(rng: random.Random) -> str:
    a, b, c = rng.randint(200, 989), rng.randint(200, 999), rng.randint(0, 9999)
    return rng.choice([f"({a}) {b}-{c:04d}", f"{a}-{b}-{c:04d}", f"{a}.{b}.{c:04d}", f"+1 {a} {b} {c:04d}"])


def fake_ip(rng: random.Random) -> str:
    return ".".join(str(rng.randint(1, 254)) for _ in range(4))


def noise_line(rng: random.Random) -> str:
    kind = rng.randrange(9)
    if kind == 0:
        return f"Contact {fake_email(rng)} for details."
    if kind == 1:
        return f"Call us at {fake_phone(rng)} today"
    if kind == 2:
        return f"The server at {fake_ip(rng)} answered."
    if kind == 3:
        return (
            f"Upgraded to version {rng.randint(1, 12)}.{rng.randint(0, 30)}.{rng.randint(0, 99)}.{rng.randint(0, 999)}"
        )
    if kind == 4:
        return f"Released on {rng.randint(2000, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} and 12.05.2019"
    if kind == 5:
        return " ".join(str(rng.randint(100, 99999)) for _ in range(rng.randint(3, 8)))
    if kind == 6:
        return "ISBN 978-3-16-148410-0 and doi:10.1000/182 #" + str(rng.randint(100, 999))
    if kind == 7:
        return "Lorem ipsum dolor sit amet, consectetur adipiscing elit. Enable JavaScript { to view }"
    return f"Order 555 1234567890 ref {rng.randint(1_000_000_000, 9_999_999_999)} id 4155552671"


def vary(text: str, rng: random.Random) -> str:
    """Apply one or two of the patterns the taggers score, so each rule has positives in the corpus."""
    lines = text.split("\n")
    for _ in range(rng.randint(1, 2)):
        kind = rng.randrange(8)
        if kind == 0:
            lines = [rng.choice(["* ", "- ", "• "]) + line if line.strip() else line for line in lines]
        elif kind == 1:
            lines = [line + "…" if line.strip() and rng.random() < 0.5 else line for line in lines]
        elif kind == 2 and lines:
            repeated = rng.choice(lines)
            lines += [repeated] * rng.randint(2, 20)
        elif kind == 3:
            for _ in range(rng.randint(1, 6)):
                lines.insert(rng.randint(0, len(lines)), noise_line(rng))
        elif kind == 4:
            table = [" | ".join(f"{rng.uniform(0, 1000):.2f}" for _ in range(5)) for _ in range(rng.randint(3, 15))]
            lines[rng.randint(0, len(lines)) : 0] = table
        elif kind == 5:
            lines = lines * rng.randint(2, 4)
        elif kind == 6:
            lines = [line.replace(" ", " # ", 1) if rng.random() < 0.3 else line for line in lines]
        else:
            lines.append(fake_email(rng))  # an address as the very last characters of the text
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "work", "tagger_corpus"))
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--man-pages", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    sources = [licence_docs(), package_docs(), man_docs(args.man_pages), debian_descriptions(rng)]
    sources.append(docstring_docs(400))
    docs: list[tuple[str, str]] = []
    for source in sources:
        for name, text in source:
            for piece in split_long(text, rng):
                if piece.strip():
                    docs.append((name, vary(piece, rng) if rng.random() < 0.35 else piece))
    rng.shuffle(docs)

    out_dir = os.path.join(args.out, "documents")
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    writers = [
        gzip.open(os.path.join(out_dir, f"shard-{i:05d}.jsonl.gz"), "wt", compresslevel=1) for i in range(args.shards)
    ]
    for i, (name, text) in enumerate(docs):
        row = {"id": f"{name}-{i}", "text": text, "source": name, "added": "2026-01-01T00:00:00Z", "metadata": {}}
        writers[i % args.shards].write(json.dumps(row) + "\n")
    for writer in writers:
        writer.close()
    chars = sum(len(t) for _, t in docs)
    print(f"{len(docs)} documents, {chars / 1e6:.1f} M characters, {args.shards} shards in {out_dir}")


if __name__ == "__main__":
    main()
