"""Language ID: the bundled lid.176 model, agreement with fastText's own predict, levels, chosen languages."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.resources
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dolma.taggers.classifiers import load_fasttext_module
from dolma.taggers.fasttext_numpy import FastTextNumpy
from dolma.taggers.language import LanguageId
from dolma.taggers.text import analyse, analysed

from dolma import Document, cli
from dolma.errors import ConfigError

SENTENCES = {
    "en": "The council met on Tuesday to discuss the new library and the repairs to the old bridge.",
    "fr": "Le conseil municipal s'est réuni mardi pour discuter de la nouvelle bibliothèque du quartier.",
    "de": "Der Gemeinderat traf sich am Dienstag, um über die neue Bibliothek und die alte Brücke zu sprechen.",
    "es": "El ayuntamiento se reunió el martes para hablar de la nueva biblioteca y del puente viejo.",
    "it": "Il consiglio comunale si è riunito martedì per discutere della nuova biblioteca e del vecchio ponte.",
    "pt": "A câmara municipal reuniu-se na terça-feira para discutir a nova biblioteca e a ponte velha.",
    "nl": "De gemeenteraad kwam dinsdag bijeen om de nieuwe bibliotheek en de oude brug te bespreken.",
    "ru": "Городской совет собрался во вторник, чтобы обсудить новую библиотеку и ремонт старого моста.",
    "pl": "Rada miasta zebrała się we wtorek, aby omówić nową bibliotekę i remont starego mostu.",
    "tr": "Belediye meclisi salı günü yeni kütüphaneyi ve eski köprünün onarımını görüşmek için toplandı.",
    "ja": "市議会は火曜日に新しい図書館と古い橋の修理について話し合うために集まりました。",
    "zh": "市议会星期二开会讨论新图书馆和旧桥的维修问题。",
    "ar": "اجتمع مجلس المدينة يوم الثلاثاء لمناقشة المكتبة الجديدة وإصلاح الجسر القديم.",
    "ko": "시의회는 화요일에 새 도서관과 오래된 다리의 수리에 대해 논의하기 위해 모였습니다.",
    "sv": "Kommunfullmäktige samlades på tisdagen för att diskutera det nya biblioteket och den gamla bron.",
    "fi": "Kaupunginvaltuusto kokoontui tiistaina keskustelemaan uudesta kirjastosta ja vanhan sillan korjauksesta.",
}


def multilingual_documents() -> list[Document]:
    """Single sentences, multi-line documents, mixed-language documents and odd text."""
    docs = [Document(id=f"s-{lang}", text=text) for lang, text in SENTENCES.items()]
    langs = list(SENTENCES)
    for i, lang in enumerate(langs):
        other = langs[(i + 3) % len(langs)]
        docs.append(Document(id=f"lines-{lang}", text=f"{SENTENCES[lang]}\n{SENTENCES[lang]}\n\n"))
        docs.append(Document(id=f"mixed-{lang}-{other}", text=f"{SENTENCES[lang]}\n{SENTENCES[other]}"))
    docs += [
        Document(id="short", text="ok"),
        Document(id="digits", text="12 345 678\n90"),
        Document(id="url", text="https://example.com/a?b=c"),
        Document(id="tabs", text="tab\tseparated\rwords\x0bhere"),
    ]
    return docs


@pytest.fixture(scope="module")
def tagger() -> LanguageId:
    return LanguageId(LanguageId.Params(languages=["en", "de"]))


@pytest.fixture(scope="module")
def fasttext_model() -> Any:
    """The bundled model loaded by the fasttext module itself: the reference the tagger must agree with."""
    return load_fasttext_module(str(importlib.resources.files("dolma.taggers").joinpath("resources", "lid.176.ftz")))


def top_of(attributes: dict[str, list[tuple[int, int, float]]], prefix: str = "") -> tuple[str, float]:
    (key,) = [k for k in attributes if k.startswith(prefix + "top_")]
    ((_, _, score),) = attributes[key]
    return key.removeprefix(prefix + "top_"), score


def test_tagger_predicts_with_numpy_for_the_bundled_model(tagger: LanguageId) -> None:
    assert isinstance(tagger.model, FastTextNumpy)


def test_top_language_agrees_with_fasttext_predict_on_every_document(tagger: LanguageId, fasttext_model: Any) -> None:
    docs = multilingual_documents()
    results = tagger.predict_batch(docs)
    for doc, attributes in zip(docs, results, strict=True):
        labels, probs = fasttext_model.predict(doc.text.replace("\n", " "), k=1)  # fastText's own, one by one
        lang, score = top_of(attributes)
        assert lang == labels[0].removeprefix("__label__"), doc.id
        assert score == pytest.approx(min(float(probs[0]), 1.0), abs=1e-6), doc.id


def test_single_sentences_are_identified_correctly(tagger: LanguageId) -> None:
    docs = [Document(id=lang, text=text) for lang, text in SENTENCES.items()]
    found = [top_of(attributes)[0] for attributes in tagger.predict_batch(docs)]
    assert found == list(SENTENCES)


def test_batched_and_one_by_one_predictions_are_identical(tagger: LanguageId) -> None:
    docs = multilingual_documents()
    assert tagger.predict_batch(docs) == [tagger.predict(doc) for doc in docs]


def test_words_split_by_an_earlier_tagger_give_the_same_predictions(tagger: LanguageId) -> None:
    """After gopher or c4 split a batch's texts, the tagger weights their distinct words by count instead of
    splitting the texts again: the attributes are the same."""
    docs = multilingual_documents()
    alone = tagger.predict_batch(docs)
    analyses = [analyse(doc.text) for doc in docs]  # as gopher does; kept alive while the tagger runs
    assert all(analysed(doc.text) is a for doc, a in zip(docs, analyses, strict=True))
    assert tagger.predict_batch(docs) == alone


def test_chosen_languages_are_scored_on_every_document(tagger: LanguageId) -> None:
    docs = [Document(id="en", text=SENTENCES["en"]), Document(id="ja", text=SENTENCES["ja"])]
    en_doc, ja_doc = tagger.predict_batch(docs)
    assert en_doc["en"][0][2] == en_doc["top_en"][0][2] > 0.5
    assert en_doc["de"][0][2] < 0.01
    assert ja_doc["en"][0][2] < 0.01 and ja_doc["de"][0][2] < 0.01
    assert "top_ja" in ja_doc
    assert en_doc["en"][0][:2] == (0, len(SENTENCES["en"]))


@pytest.mark.parametrize("min_score", [5e-6, 0.001])
def test_chosen_language_scores_match_fasttext_all_label_probabilities(min_score: float, fasttext_model: Any) -> None:
    tagger = LanguageId(LanguageId.Params(languages=["en", "de", "nl", "ja"], min_score=min_score))
    text = SENTENCES["nl"] + " " + SENTENCES["de"]
    labels, probs = fasttext_model.predict(text, k=-1)
    expected = dict(zip(labels, probs.tolist(), strict=True))
    (attributes,) = tagger.predict_batch([Document(id="x", text=text)])
    for lang in ("en", "de", "nl", "ja"):
        value = min(expected.get(f"__label__{lang}", 0.0), 1.0)
        assert round(attributes[lang][0][2], 5) == (round(value, 5) if value >= min_score else 0.0), lang
    assert 0 < attributes["ja"][0][2] < 0.001 if min_score < 1e-5 else attributes["ja"][0][2] == 0.0


def test_paragraph_level_scores_each_paragraph() -> None:
    tagger = LanguageId(LanguageId.Params(level="paragraph", languages=["fr"]))
    text = f"{SENTENCES['en']}\n\n{SENTENCES['fr']}\n{SENTENCES['ru']}"
    (attributes,) = tagger.predict_batch([Document(id="p", text=text)])
    first_end = len(SENTENCES["en"]) + 1
    second_start = first_end + 1
    second_end = second_start + len(SENTENCES["fr"]) + 1
    assert [s[:2] for s in attributes["paragraph_top_en"]] == [(0, first_end)]
    assert [s[:2] for s in attributes["paragraph_top_fr"]] == [(second_start, second_end)]
    assert [s[:2] for s in attributes["paragraph_top_ru"]] == [(second_end, len(text))]
    assert [s[:2] for s in attributes["paragraph_fr"]] == [
        (0, first_end),
        (second_start, second_end),
        (second_end, len(text)),
    ]
    assert "top_en" not in attributes and "fr" not in attributes


def test_both_levels_together() -> None:
    tagger = LanguageId(LanguageId.Params(level="both"))
    text = f"{SENTENCES['es']}\n{SENTENCES['es']}\n{SENTENCES['pl']}"
    (attributes,) = tagger.predict_batch([Document(id="b", text=text)])
    assert top_of(attributes)[0] == "es"
    assert len(attributes["paragraph_top_es"]) == 2 and len(attributes["paragraph_top_pl"]) == 1


def test_blank_document_has_no_top_language_and_zero_chosen_scores(tagger: LanguageId) -> None:
    for text in ("", "  \n\t\n"):
        (attributes,) = tagger.predict_batch([Document(id="blank", text=text)])
        assert attributes == {"en": [(0, len(text), 0.0)], "de": [(0, len(text), 0.0)]}


def test_unknown_language_code_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="xx"):
        LanguageId(LanguageId.Params(languages=["en", "xx"]))


def test_min_score_out_of_range_is_refused() -> None:
    with pytest.raises(ConfigError, match="min_score"):
        LanguageId.Params(min_score=0.1)


def test_model_ships_in_the_package_with_its_licence() -> None:
    resources = importlib.resources.files("dolma.taggers").joinpath("resources")
    model = resources.joinpath("lid.176.ftz").read_bytes()
    assert hashlib.md5(model).hexdigest() == "340156704bb8c8e50c4abf35a7ec2569"
    assert "CC BY-SA 3.0" in resources.joinpath("LICENSE-lid.176.md").read_text()


def _record_hash(dist: importlib.metadata.Distribution, relative: str) -> str:
    for entry in dist.files or []:
        if str(entry) == relative and entry.hash is not None:
            return entry.hash.value
    raise AssertionError(f"{relative} is not in {dist.metadata['Name']}'s RECORD")


def test_imported_fasttext_is_fasttext_numpy2_and_predicts_under_numpy_2(fasttext_model: Any) -> None:
    import fasttext
    import fasttext_pybind

    dist = importlib.metadata.distribution("fasttext-numpy2")
    imported = {
        "fasttext/FastText.py": os.path.join(os.path.dirname(fasttext.__file__), "FastText.py"),
        os.path.basename(fasttext_pybind.__file__): fasttext_pybind.__file__,
    }
    for relative, path in imported.items():
        with open(path, "rb") as f:
            digest = base64.urlsafe_b64encode(hashlib.sha256(f.read()).digest()).rstrip(b"=").decode()
        assert digest == _record_hash(dist, relative), f"{path} is not fasttext-numpy2's file (overwritten?)"
    assert int(np.__version__.split(".")[0]) >= 2
    labels, probs = fasttext_model.predict([SENTENCES["en"], SENTENCES["fr"]], k=2)
    assert [row[0] for row in labels] == ["__label__en", "__label__fr"]
    assert all(isinstance(row, np.ndarray) and row.shape == (2,) for row in probs)


ADVERSARIAL = {
    "emoji": "😀" * 100_000,
    "one_long_line": ("lorem ipsum dolor " * 60_000)[:1_000_000],
    "one_char_lines": "a\n" * 100_000,
}


@pytest.mark.parametrize("name", list(ADVERSARIAL))
def test_adversarial_inputs_complete_quickly(name: str) -> None:
    """The slowest configuration: both levels and a chosen language (every label above min_score per unit).
    100,000 one-character paragraphs take a few seconds: linear, but fastText's cost per call dominates."""
    tagger = LanguageId(LanguageId.Params(level="both", languages=["en"]))
    start = time.perf_counter()
    (attributes,) = tagger.predict_batch([Document(id=name, text=ADVERSARIAL[name])])
    assert time.perf_counter() - start < 30
    assert len(attributes["en"]) == 1


def test_dolma_tag_runs_the_bundled_model_in_worker_processes(tmp_path: Path) -> None:
    documents = tmp_path / "data" / "documents"
    documents.mkdir(parents=True)
    for shard in range(2):
        rows = [{"id": f"{shard}-{lang}", "text": text} for lang, text in SENTENCES.items()]
        (documents / f"{shard}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    taggers = "[{language: {languages: [en], level: both}}]"
    assert cli.main(["tag", "--documents", str(documents / "*.jsonl"), "--taggers", taggers, "--processes", "2"]) == 0
    for shard in range(2):
        lines = (tmp_path / "data" / "attributes" / "language" / f"{shard}.jsonl").read_text().splitlines()
        for lang, line in zip(SENTENCES, lines, strict=True):
            attributes = json.loads(line)["attributes"]
            assert f"language__language__top_{lang}" in attributes
            assert f"language__language__paragraph_top_{lang}" in attributes
            assert "language__language__en" in attributes


def test_missing_model_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.bin does not exist"):
        LanguageId.Params(model_path=str(tmp_path / "nope.bin"))


def test_bundled_model_does_not_import_the_fasttext_module() -> None:
    code = (
        "import sys; from taggers.language import LanguageId; "
        "LanguageId(LanguageId.Params(languages=['en'])); print('fasttext' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
