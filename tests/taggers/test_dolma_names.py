"""allenai/dolma 1.2.1's tagger names: dolma's keys, values and sparse convention, and its plugin API."""

from __future__ import annotations

from dolma.taggers.dolma_names import DOLMA_TAGGERS

from dolma import registry
from dolma.cli import main
from dolma.documents import Document
from tests.helpers import read_jsonl, write_docs


def predict(name: str, text: str, **params) -> dict:
    return registry.instance(name, params).predict_batch([Document(id="d", text=text, source="s")])[0]


def test_every_dolma_name_is_listed_and_every_mapped_one_is_registered():
    assert len(DOLMA_TAGGERS) == 99 and "jigsaw_nsfw_sencence_v2" in DOLMA_TAGGERS
    mapped = [name for name, family in DOLMA_TAGGERS.items() if family]
    assert len(mapped) >= 16
    for name in mapped:
        assert registry.get(name).description().startswith(f"allenai/dolma's {name}")


def test_c4_v2_writes_flags_and_line_spans_only_when_true():
    text = "Short line\nA full sentence with words.\nvar x = {javascript};"
    out = predict("c4_v2", text)
    assert out["has_curly_brace"] == [(0, len(text), 1.0)] and out["has_javascript"] == [(0, len(text), 1.0)]
    assert "has_lorem_ipsum" not in out and "has_naughty_word" not in out
    assert [s[:2] for s in out["lines_with_no_ending_punctuation"]] == [(0, 11), (39, 60)]
    assert [s[:2] for s in out["lines_with_too_few_words"]] == [(0, 11)]
    assert out["line_count"] == [(0, len(text), 3.0)]
    clean = predict("c4_v2", "One two three four.")
    assert set(clean) == {"line_count"}  # no span list and no flag is written empty


def test_c4_v1_tests_javascript_as_a_whole_word():
    assert "has_javascript" not in predict("c4_v1", "I like javascripts a lot.")
    assert "has_javascript" in predict("c4_v1", "I like javascript a lot.")
    assert "has_javascript" in predict("c4_v2", "I like javascripts a lot.")


def test_gopher_v1_counts_blank_lines_and_omits_ngrams_a_short_text_lacks():
    text = "the cat sat\n\n\nthe cat sat"
    out = predict("gopher_v1", text)
    value = {k: v[0][2] for k, v in out.items()}
    # dolma: 4 lines ("", "" are two of them), 4 of them repeated ("the cat sat" twice, "" twice)
    assert value["fraction_of_duplicate_lines"] == 1.0
    assert value["fraction_of_characters_in_duplicate_lines"] == 22 / 18
    assert "fraction_of_characters_in_duplicate_5grams" in out  # 6 words: 5- and 6-grams only
    assert "fraction_of_characters_in_duplicate_7grams" not in out
    assert value["word_count"] == 6 and value["required_word_count"] == 2
    assert "non_symbol_word_count" not in out and "fraction_of_duplicate_paragraphs" not in out
    v2 = {k: v[0][2] for k, v in predict("gopher_v2", text).items()}
    assert v2["fraction_of_duplicate_lines"] == 1.0 and v2["fraction_of_characters_in_duplicate_lines"] == 22 / 18
    assert {k: v[0][2] for k, v in predict("gopher_v1", "").items()}["word_count"] == 0.0


def test_length_and_tokenizer_names_count_as_dolma_does():
    text = "Hello, world!\n\n  second   line  "
    assert predict("char_length_v1", text) == {"length": [(0, len(text), float(len(text)))]}
    assert predict("char_length_strip_ws_v1", text)["length_no_ws"][0][2] == len(text.strip())
    paragraphs = predict("char_length_with_paragraphs_v1", text)["paragraph"]
    assert [p[:2] for p in paragraphs] == [(0, 14), (15, len(text))]
    # dolma splits on runs of word or of punctuation characters: 'Hello', ',', 'world', '!' ... and counts pieces
    assert predict("whitespace_tokenizer_v1", text)["length"][0][2] == 7.0
    both = predict("whitespace_tokenizer_with_paragraphs_v1", text)
    assert [p[2] for p in both["paragraph"]] == [5.0, 3.0] and both["document"][0][2] == 8.0
    assert predict("bytes_length_v1", "é")["bytes"][0][2] == 2.0


def test_pii_regex_names_keep_dolmas_patterns_and_scores():
    text = "Mail bob@example.com now, call 555 123 4567 today; server 10.0.0.1 is up."
    out = predict("pii_regex_v2", text)
    assert out["EMAIL_ADDRESS"] == [(4, 21, 1.0)]  # dolma's span covers the space before and after
    assert out["PHONE_NUMBER"] == [(30, 43, 1.0)] and out["IP_ADDRESS"] == [(58, 66, 1.0)]
    assert out["doc"][0][2] == 3 / len(text.split())
    assert predict("pii_regex_v2", "   ")["doc"][0][2] == -1.0 and predict("pii_regex_v1", "   ")["doc"][0][2] == 0.0
    assert "PHONE_NUMBER" not in predict("pii_regex_v2", "ISBN call 555 123 4567 today isbn")
    counts = predict("pii_regex_with_counts_v2", text)
    assert counts["doc_count"][0][2] == 3.0
    fast = predict("pii_regex_with_counts_fast_v2", text)
    assert fast["doc_count"][0][2] == 3.0 and fast["doc_frac"][0][2] == (17 + 13 + 8 + len(text)) / len(text)


def test_random_number_v1_is_seeded_and_writes_dolmas_key():
    first = predict("random_number_v1", "text")
    assert set(first) == {"random"} and first == predict("random_number_v1", "text")


def test_dolma_names_run_from_a_dolma_tag_config(tmp_path):
    docs = [{"id": "a", "text": "x = {1}\nshort"}, {"id": "b", "text": "A plain sentence of words."}]
    write_docs(f"{tmp_path}/documents/000.jsonl.gz", docs)
    config = tmp_path / "tag.yaml"
    config.write_text(f"documents: ['{tmp_path}/documents/*.gz']\ntaggers: [c4_v2, char_length_v1]\nprocesses: 1\n")
    assert main(["-c", str(config), "tag"]) == 0
    rows = read_jsonl(f"{tmp_path}/attributes/c4_v2/000.jsonl.gz")
    assert "c4_v2__c4_v2__has_curly_brace" in rows[0]["attributes"]
    assert "c4_v2__c4_v2__has_curly_brace" not in rows[1]["attributes"]
    lengths = read_jsonl(f"{tmp_path}/attributes/char_length_v1/000.jsonl.gz")
    assert lengths[1]["attributes"] == {"char_length_v1__char_length_v1__length": [[0, 26, 26.0]]}


PLUGIN = """
import random

from dolma import add_tagger, BaseTagger
from dolma.core.data_types import DocResult, Document, Span
from dolma.core.registry import TaggerRegistry
from dolma.core.taggers import BaseTaggerWithMetadata


@add_tagger("new_random_number")
class RandomNumberTagger(BaseTagger):
    def __init__(self):
        self.rng = random.Random(3)

    def predict(self, doc: Document) -> DocResult:
        span = Span(start=0, end=len(doc.text), type="random.value", score=self.rng.random())
        return DocResult(doc=doc, spans=[span])


@TaggerRegistry.add("source_tagger")
class SourceTagger(BaseTaggerWithMetadata):
    @property
    def defaults(self):
        return ["never"]

    def predict(self, doc):
        spans = [Span(0, 1, type="has_meta", score=doc.metadata.get("n", 0))] if doc.metadata else []
        return DocResult(doc=doc, spans=spans)
"""


def test_a_plugin_written_for_dolma_runs_unchanged(tmp_path):
    (tmp_path / "plugin.py").write_text(PLUGIN)
    docs = [{"id": "a", "text": "one", "metadata": {"n": 7}}, {"id": "b", "text": "two words"}]
    write_docs(f"{tmp_path}/documents/000.jsonl.gz", docs)
    args = ["tag", "--documents", f"{tmp_path}/documents/*.gz", "--experiment", "exp", "--processes", "1"]
    args += ["--tagger_modules", str(tmp_path / "plugin.py"), "--taggers", "new_random_number", "source_tagger"]
    assert main(args) == 0
    rows = [r["attributes"] for r in read_jsonl(f"{tmp_path}/attributes/exp/000.jsonl.gz")]
    import random

    rng = random.Random(3)
    assert rows[0]["exp__new_random_number__random_value"] == [[0, 3, round(rng.random(), 5)]]
    assert rows[1]["exp__new_random_number__random_value"] == [[0, 9, round(rng.random(), 5)]]
    assert rows[0]["exp__source_tagger__has_meta"] == [[0, 1, 7.0]] and rows[0]["exp__source_tagger__never"] == []
    assert "exp__source_tagger__has_meta" not in rows[1]


def test_fasttext_english_names_write_dolmas_keys():
    english = "The committee met on Tuesday to discuss the budget for the next year."
    text = f"{english}\nLe comité s'est réuni mardi pour discuter du budget de l'année prochaine."
    doc = predict("ft_lang_id_en_doc_v2", english)
    assert set(doc) == {"en", "not_en"} and doc["en"][0][2] > 0.8
    assert abs(doc["not_en"][0][2] - (1 - doc["en"][0][2])) < 1e-12
    assert set(predict("ft_lang_id_en_only_v2", english)) == {"en"}
    lines = predict("ft_lang_id_en_paragraph_with_doc_score_v2", text)
    (s1, e1, p1), (s2, e2, p2) = lines["en"]
    assert (s1, e2) == (0, len(text)) and p1 > 0.8 > 0.2 > p2
    assert abs(lines["doc_en"][0][2] - ((e1 - s1) * p1 + (e2 - s2) * p2) / len(text)) < 1e-12
    assert set(predict("ft_lang_id_en_paragraph_v2", text)) == {"en", "not_en"}
