"""Labelled multilingual sets for language identification, built from the translated gettext catalogues
on this machine (``/usr/share/locale/<code>/LC_MESSAGES/*.mo``, shipped by Debian packages); and, closer to
documentation, :func:`build_documents` (translated manual pages, debconf questions, catalogue documents).

Each catalogue is one language's translation of one program's messages, so the directory's language code
labels every message in it: real text, written by people, in 60+ languages, with no download. The set has
three lengths per language, because identifiers fail differently on each:

- ``short``: one UI message (20-200 characters), "Could not open the file for writing".
- ``paragraph``: 3-8 messages of one catalogue, one per line (about 150-800 characters).
- ``long``: messages of one catalogue, one per line, until the text reaches 1,500 characters.

Rules, fixed before any identifier was scored (so the set is not tuned to one):

- A code's region is dropped (``pt_BR`` -> ``pt``, ``zh_TW`` -> ``zh``); ``nb`` is labelled ``no`` and
  ``fil`` ``tl``, ``kmr`` ``ku`` (the codes lid.176 uses). ``@`` variants (``sr@latin``, ``ca@valencia``,
  ``en@quot``...) and ``en_*`` are left out: a script or spelling variant is not a language label.
- English is the catalogues' original messages (``msgid``), one pool per program.
- ``iso_*`` catalogues (names of countries, currencies, languages) are left out: proper nouns, no language.
- A message is cleaned of accelerators (``_File``, ``&Open``), format directives (``%s``, ``%(name)d``,
  ``{0}``) and markup (``<b>``), then kept only with 20+ characters of which at least half are letters, and
  only when it differs from its English original (an untranslated message is English, not its label).
- A language is in the set when it has at least 300 distinct kept messages; then it gets 100 short, 50
  paragraph and 50 long samples, drawn with a fixed seed. ``benchmarks/quality.py`` scores the languages
  lid.176 has a label for (84 on this machine; it leaves out crh, dz, fur, lg, nso and xh).
"""

from __future__ import annotations

import gettext
import glob
import gzip
import os
import random
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache

LOCALE_DIR = "/usr/share/locale"
SHORT, PARAGRAPH, LONG = "short", "paragraph", "long"
PER_LANGUAGE = {SHORT: 100, PARAGRAPH: 50, LONG: 50}
MIN_MESSAGES = 300
LONG_CHARS = 1500
RENAMED = {"nb": "no", "fil": "tl", "kmr": "ku"}

_DIRECTIVE = re.compile(r"%(?:\([^)]*\))?[-#0 +']*\d*(?:\.\d+)?[hlLqjzt]*[a-zA-Z%]|\{[^{}]*\}|\$\{?\w+\}?")
_MARKUP = re.compile(r"<[^<>]{0,80}>|&(?:[a-z]+|#\d+);")
_ACCELERATOR = re.compile(r"[_&](?=\w)")


@dataclass(frozen=True)
class Sample:
    text: str
    language: str
    length: str  # short, paragraph or long
    source: str  # the catalogue (program) the messages come from


def label(code: str) -> str | None:
    """The language label of a locale directory name, or None for a variant or English locale."""
    if "@" in code or code.startswith("en") or code == "locale.alias":
        return None
    base = code.split("_")[0]
    return RENAMED.get(base, base)


def clean(message: str) -> str | None:
    text = _MARKUP.sub(" ", _DIRECTIVE.sub(" ", _ACCELERATOR.sub("", message)))
    text = " ".join(text.split())
    letters = sum(c.isalpha() for c in text)
    return text if len(text) >= 20 and letters * 2 >= len(text) else None


def catalogue(path: str) -> list[tuple[str, str]]:
    """``(original, translation)`` pairs of one ``.mo`` file, both cleaned; [] for an unreadable file."""
    try:
        with open(path, "rb") as f:
            messages = gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]
    except (OSError, UnicodeError, ValueError, IndexError, KeyError):
        return []
    pairs = []
    for key, value in messages.items():
        if not isinstance(key, str) or not key or not isinstance(value, str):
            continue
        original, translation = clean(key), clean(value)
        if original and translation and original.casefold() != translation.casefold():
            pairs.append((original, translation))
    return pairs


@lru_cache(maxsize=2)
def pools(locale_dir: str = LOCALE_DIR) -> dict[str, dict[str, list[str]]]:
    """``{language: {program: [distinct messages]}}`` over every catalogue, English from the originals."""
    found: dict[str, dict[str, list[str]]] = {}
    for path in sorted(glob.glob(os.path.join(locale_dir, "*", "LC_MESSAGES", "*.mo"))):
        program = os.path.basename(path)[: -len(".mo")]
        lang = label(path.split(os.sep)[-3])
        if lang is None or program.startswith("iso_"):
            continue
        for original, translation in catalogue(path):
            found.setdefault(lang, {}).setdefault(program, []).append(translation)
            found.setdefault("en", {}).setdefault(program, []).append(original)
    return {lang: {p: sorted(set(m)) for p, m in programs.items()} for lang, programs in found.items()}


def _joined(rng: random.Random, messages: list[str], target: int, at_most: int) -> str:
    lines: list[str] = []
    for message in rng.sample(messages, min(len(messages), at_most)):
        lines.append(message)
        if sum(map(len, lines)) >= target:
            break
    return "\n".join(lines)


def build(seed: int = 0, locale_dir: str = LOCALE_DIR) -> list[Sample]:
    """The labelled set: per language with enough messages, short, paragraph and long samples."""
    rng = random.Random(seed)
    samples = []
    for lang, programs in sorted(pools(locale_dir).items()):
        if len({m for messages in programs.values() for m in messages}) < MIN_MESSAGES:
            continue
        names = sorted(programs)
        weights = [len(programs[p]) for p in names]
        seen: set[str] = set()
        for length, count in PER_LANGUAGE.items():
            made = 0
            while made < count:
                program = rng.choices(names, weights)[0]
                messages = programs[program]
                if length == SHORT:
                    text = rng.choice(messages)
                    if len(text) > 200:
                        continue
                elif length == PARAGRAPH:
                    text = "\n".join(rng.sample(messages, min(len(messages), rng.randint(3, 8))))
                else:
                    text = _joined(rng, messages, LONG_CHARS, 400)
                    if len(text) < LONG_CHARS:
                        continue
                if text in seen:
                    continue
                seen.add(text)
                samples.append(Sample(text, lang, length, program))
                made += 1
    return samples


# ------------------------------------------------------------------------- the document-like set

MANUAL, DEBCONF, CATALOGUE = "manual", "debconf", "catalogue"
MAN_DIR = "/usr/share/man"
DEBCONF_TEMPLATES = "/var/cache/debconf/templates.dat"
DOCUMENTS_PER_LANGUAGE = {MANUAL: 20, DEBCONF: 10, CATALOGUE: 20}
PASSAGE_WORDS = (150, 400)
CATALOGUE_CHARS = 2500
DEBCONF_CHARS = 300
_DEBCONF_FIELD = re.compile(r"^(Description|Extended_description)(?:-([A-Za-z_]+))?(?:\.[\w-]+)?: ?(.*)$")


def _english_share(text: str, english: set[str]) -> float:
    """The share of ``text``'s letters in words that its page's English original also has."""
    words = text.lower().split()
    letters = [sum(c.isalpha() for c in w) for w in words]
    found = sum(n for w, n in zip(words, letters, strict=True) if w in english)
    return found / max(sum(letters), 1)


def manual_passages(rng: random.Random, man_dir: str = MAN_DIR) -> dict[str, list[Sample]]:
    """Passages of 150-400 words of translated manual pages (``/usr/share/man/<code>/man*/``, labelled by
    ``<code>`` as catalogues are) and of English ones (``man1``-``man8``, gcloud's generated pages left out),
    at most 3 per page so that no page dominates a language. Many "translated" pages translate only the
    headings (the shadow suite's pages in it, zh_CN, da, pl, ru...): a passage whose letters are for half or
    more in words of the English original page (same name in ``man<section>/``) is English, not its label,
    and is left out (a rule added after reading the first run's errors; it uses no identifier)."""
    from minhash_quality import man_page_text

    def words_of(path: str) -> set[str]:
        try:
            with gzip.open(path, "rt", errors="replace") as f:
                return set(man_page_text(f.read()).lower().split())
        except (OSError, EOFError):
            return set()

    pages: dict[str, list[str]] = {}
    for path in sorted(glob.glob(os.path.join(man_dir, "*", "man*", "*.gz"))):
        lang = label(path.split(os.sep)[-3])
        if lang is not None:
            pages.setdefault(lang, []).append(path)
    pages["en"] = sorted(
        p for p in glob.glob(os.path.join(man_dir, "man[1-8]", "*.gz")) if not os.path.basename(p).startswith("gcloud")
    )
    found: dict[str, list[Sample]] = {}
    for lang, paths in sorted(pages.items()):
        rng.shuffle(paths)
        for path in paths:
            if len(found.get(lang, [])) >= DOCUMENTS_PER_LANGUAGE[MANUAL]:
                break
            try:
                with gzip.open(path, "rt", errors="replace") as f:
                    tokens = man_page_text(f.read()).split()
            except (OSError, EOFError):
                continue
            parts = path.split(os.sep)
            english = set() if lang == "en" else words_of(os.path.join(man_dir, parts[-2], parts[-1]))
            start = 0
            for _ in range(3):
                size = rng.randint(*PASSAGE_WORDS)
                if start + PASSAGE_WORDS[0] > len(tokens):
                    break
                text = " ".join(tokens[start : start + size])
                start += size
                if sum(c.isalpha() for c in text) * 2 >= len(text) and _english_share(text, english) < 0.5:
                    found.setdefault(lang, []).append(Sample(text, lang, MANUAL, path))
    return {lang: samples[: DOCUMENTS_PER_LANGUAGE[MANUAL]] for lang, samples in found.items()}


def debconf_documents(path: str = DEBCONF_TEMPLATES) -> dict[str, list[Sample]]:
    """Per language, one document per package: every debconf question of the package in that language (its
    short and extended descriptions: installation prompts that explain a choice), at least 300 characters."""
    texts: dict[tuple[str, str], list[str]] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            records = f.read().split("\n\n")
    except OSError:
        return {}
    for record in records:
        package = ""
        for line in record.splitlines():
            if line.startswith("Name: "):
                package = line[len("Name: ") :].split("/")[0]
            match = _DEBCONF_FIELD.match(line)
            if not match or not package:
                continue
            lang = label(match.group(2).lower()) if match.group(2) else "en"
            text = clean(_DIRECTIVE.sub(" ", match.group(3).replace("\\n", "\n")))
            if lang is not None and text:
                texts.setdefault((lang, package), []).append(text)
    found: dict[str, list[Sample]] = {}
    for (lang, package), parts in sorted(texts.items()):
        text = "\n".join(dict.fromkeys(parts))
        if len(text) >= DEBCONF_CHARS:
            found.setdefault(lang, []).append(Sample(text, lang, DEBCONF, package))
    return found


def build_documents(seed: int = 0, locale_dir: str = LOCALE_DIR) -> list[Sample]:
    """The document-like set: per language, manual-page passages, debconf documents and catalogue documents
    (messages of one program joined to 2,500+ characters: translated UI text at document length), for every
    language the catalogues hold enough messages of (as :func:`build`) and those with manual pages."""
    rng = random.Random(seed)
    manuals = manual_passages(rng)
    debconf = debconf_documents()
    samples: list[Sample] = []
    catalogues = pools(locale_dir)
    for lang in sorted(set(catalogues) | set(manuals)):
        samples += manuals.get(lang, [])
        chosen = debconf.get(lang, [])
        samples += rng.sample(chosen, min(len(chosen), DOCUMENTS_PER_LANGUAGE[DEBCONF]))
        programs = catalogues.get(lang, {})
        if len({m for messages in programs.values() for m in messages}) < MIN_MESSAGES:
            continue
        names = sorted(programs)
        weights = [len(programs[p]) for p in names]
        made, tries = 0, 0
        while made < DOCUMENTS_PER_LANGUAGE[CATALOGUE] and tries < 1000:
            tries += 1
            program = rng.choices(names, weights)[0]
            text = _joined(rng, programs[program], CATALOGUE_CHARS, 600)
            if len(text) >= CATALOGUE_CHARS:
                samples.append(Sample(text, lang, CATALOGUE, program))
                made += 1
    return samples


def halves(indices: list[int], texts: list[str]) -> tuple[list[int], list[int]]:
    """``(dev, test)`` of ``indices``: each falls in one half by a hash of its text, so a rule tuned on the dev
    half is scored on texts it never saw."""
    dev = [i for i, text in zip(indices, texts, strict=True) if zlib.crc32(text.encode()) % 2 == 0]
    test = [i for i, text in zip(indices, texts, strict=True) if zlib.crc32(text.encode()) % 2 == 1]
    return dev, test
