"""The quality recipes in configs/pipelines/ run on a corpus given in one place (the bundled sample here) and
have the effects they claim: rule failures, non-English and duplicate documents are absent from the mix, PII
is masked, duplicate paragraphs and unpunctuated lines are deleted, and the DCLM recipe keeps the top 10% by
a fastText classifier's score."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dolma import io
from dolma.cli import main
from tests.helpers import read_jsonl

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "configs" / "sample" / "documents"
PIPELINES = ROOT / "configs" / "pipelines"


def corpus_copy(root: Path) -> Path:
    shutil.copytree(SAMPLE, root / "corpus" / "documents")
    return root / "corpus"


def rows_by_id(pattern: str) -> dict[str, dict]:
    return {row["id"]: row for path in io.glob(pattern) for row in read_jsonl(path)}


def first(attributes: dict, key: str) -> float | None:
    spans = attributes.get(key) or []
    return spans[0][2] if spans else None


@pytest.fixture(scope="module")
def dolma_v1_6(tmp_path_factory) -> tuple[Path, dict, dict, dict]:
    """The sample run through the dolma-v1_6 pipeline: its corpus, documents, dolma_v1_6 tags and mix by id."""
    root = tmp_path_factory.mktemp("dolma-v1_6")
    corpus = corpus_copy(root)
    args = ["run", str(PIPELINES / "dolma-v1_6-web.yaml"), "--vars.corpus", str(corpus), "--vars.output",
            str(root / "out"), "--vars.expected_paragraphs", "100000", "--vars.expected_documents", "10000",
            "--settings.processes", "2"]  # fmt: skip
    assert main(args) == 0
    docs = rows_by_id(f"{corpus}/documents/*/*.jsonl.gz")
    tags = {i: row["attributes"] for i, row in rows_by_id(f"{corpus}/attributes/dolma_v1_6/*/*.jsonl.gz").items()}
    return corpus, docs, tags, rows_by_id(f"{root}/out/mix/*.jsonl.gz")


def test_dolma_v1_6_drops_rule_failures_non_english_and_duplicate_documents(dolma_v1_6):
    corpus, docs, tags, mixed = dolma_v1_6
    dups = rows_by_id(f"{corpus}/attributes/dedupe_docs/*/*.jsonl.gz")
    assert 0 < len(mixed) < len(docs)

    def fails(attrs: dict) -> list[str]:
        rules = {
            "not English": (first(attrs, "dolma_v1_6__ft_lang_id_en_doc_v2__en") or 0) < 0.5,
            "under 50 words": (first(attrs, "dolma_v1_6__gopher_v1__word_count") or 0) < 50,
            "symbols": (first(attrs, "dolma_v1_6__gopher_v1__symbol_to_word_ratio") or 0) > 0.1,
            "alpha words": (first(attrs, "dolma_v1_6__gopher_v1__fraction_of_words_with_alpha_character") or 1) < 0.8,
            "stop words": (first(attrs, "dolma_v1_6__gopher_v1__required_word_count") or 0) < 2,
            "2-gram": (first(attrs, "dolma_v1_6__gopher_v1__fraction_of_characters_in_most_common_2grams") or 0) > 0.2,
            "PII-dense": (first(attrs, "dolma_v1_6__pii__doc_count") or 0) > 5,
        }
        return [rule for rule, failed in rules.items() if failed]

    failing = {i for i, attrs in tags.items() if fails(attrs)}
    duplicates = {i for i, row in dups.items() if first(row["attributes"], "bff_duplicate_docs")}
    assert len(failing) > 100 and len(duplicates) > 50  # the sample exercises the rules
    assert not failing & set(mixed)
    assert not duplicates & set(mixed)
    assert any(rule == "not English" for i in failing for rule in fails(tags[i]))


def test_dolma_v1_6_masks_pii_and_deletes_duplicate_paragraphs_and_unpunctuated_lines(dolma_v1_6):
    corpus, docs, tags, mixed = dolma_v1_6
    paragraphs = rows_by_id(f"{corpus}/attributes/dedupe_paragraphs/*/*.jsonl.gz")
    masked = 0
    for doc_id, row in mixed.items():
        text = docs[doc_id]["text"]
        removed = tags[doc_id]["dolma_v1_6__c4_v2__lines_with_no_ending_punctuation"]
        removed += paragraphs[doc_id]["attributes"]["bff_duplicate_paragraph_spans"]
        for start, end, _ in tags[doc_id]["dolma_v1_6__pii__email"]:
            assert text[start:end] not in row["text"]
            masked += not any(s <= start and end <= e for s, e, _ in removed)  # else deleted with its line
        if removed:
            assert len(row["text"]) < len(text)
        else:
            assert "|||" in row["text"] or row["text"] == text
    assert masked > 0
    assert sum(row["text"].count(" |||EMAIL_ADDRESS||| ") for row in mixed.values()) == masked


def test_dclm_keeps_the_top_tenth_of_unique_documents_by_classifier_score(tmp_path):
    corpus = corpus_copy(tmp_path)
    train = ["train-fasttext", "--positive", f"{corpus}/documents/python-docs/0000.jsonl.gz", "--negative",
             f"{corpus}/documents/readmes/0000.jsonl.gz", f"{corpus}/documents/licenses/0000.jsonl.gz",
             "--positive_label", "hq", "--negative_label", "cc", "--model", str(tmp_path / "model.bin"),
             "--bucket", "20000", "--dim", "16"]  # fmt: skip
    assert main(train) == 0
    run = ["run", str(PIPELINES / "dclm-baseline.yaml"), "--vars.corpus", str(corpus), "--vars.model",
           str(tmp_path / "model.bin"), "--vars.output", str(tmp_path / "out"), "--vars.expected_documents", "10000",
           "--settings.processes", "2"]  # fmt: skip
    assert main(run) == 0
    scores = {
        i: first(r["attributes"], "dclm__quality__hq") for i, r in rows_by_id(f"{corpus}/attributes/dclm/*/*").items()
    }
    dups = rows_by_id(f"{corpus}/attributes/dclm_dedupe/*/*.jsonl.gz")
    unique = {i for i, row in dups.items() if not first(row["attributes"], "bff_duplicate_docs")}
    mixed = rows_by_id(f"{tmp_path}/out/mix/*.jsonl.gz")
    assert len(unique) < len(scores) and set(mixed) <= unique
    assert len(mixed) == pytest.approx(0.1 * len(unique), abs=2)
    assert min(scores[i] for i in mixed) >= max(scores[i] for i in unique - set(mixed))
    assert len({row["text"] for row in mixed.values()}) == len(mixed)
    manifest = json.loads((tmp_path / "out" / "mix.manifest.json").read_text())
    assert manifest["streams"][0]["counts"]["dropped"]["top_fraction"]["documents"] == len(unique) - len(mixed)


def test_recipes_need_their_corpus_and_model_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CORPUS", raising=False)
    monkeypatch.delenv("DCLM_MODEL", raising=False)
    assert main(["run", str(PIPELINES / "dclm-baseline.yaml"), "--directory", str(tmp_path)]) == 2
    assert "environment variable CORPUS is not set" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
