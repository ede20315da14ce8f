"""A labelled multilingual set for language identification, built from the translated gettext catalogues
on this machine (``/usr/share/locale/<code>/LC_MESSAGES/*.mo``, shipped by Debian packages).

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
import os
import random
import re
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
