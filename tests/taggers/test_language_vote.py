"""language_langid and language_vote: codes mapped to lid.176's, the vote's rule, langid.py asked only on
disagreement, levels, and a close pair lid.176 alone gets wrong."""

from __future__ import annotations

import pytest
from dolma.taggers import language_vote
from dolma.taggers.language import LanguageId
from dolma.taggers.language_vote import LanguageLangId, LanguageVote, cld2_language, vote

from dolma import Document
from tests.taggers.test_language import SENTENCES, top_of


@pytest.fixture(scope="module")
def voter() -> LanguageVote:
    return LanguageVote(LanguageVote.Params())


def test_vote_takes_the_majority_and_langid_breaks_ties() -> None:
    assert vote("id", "ms", "ms") == ("ms", 0.66667)
    assert vote("no", "no", "da") == ("no", 0.66667)
    assert vote("es", "gl", "pt") == ("pt", 0.33333)  # all differ: langid.py's
    assert vote(None, "oc", None) == ("oc", 0.33333)  # an identifier naming nothing does not vote
    assert vote(None, None, None) == (None, 0.0)


def test_cld2_codes_are_lid176_codes_and_odd_text_does_not_raise() -> None:
    assert cld2_language("זהו משפט בעברית על הספרייה החדשה בעיר ועל הגשר הישן שתוקן השבוע") == "he"
    assert cld2_language("Bystyret møttes tirsdag for å diskutere det nye biblioteket og den gamle brua.") == "no"
    assert cld2_language("\x00\x01 The council met on Tuesday to discuss the library \udcff") == "en"
    assert cld2_language("") is None


def test_single_sentences_are_identified_correctly(voter: LanguageVote) -> None:
    docs = [Document(id=lang, text=text) for lang, text in SENTENCES.items()]
    assert [top_of(a)[0] for a in voter.predict_batch(docs)] == list(SENTENCES)
    langid = LanguageLangId(LanguageLangId.Params())
    assert [top_of(a)[0] for a in langid.predict_batch(docs)] == list(SENTENCES)


def test_the_vote_fixes_a_close_pair_lid176_gets_wrong(voter: LanguageVote) -> None:
    """Malay UI text that lid.176 reads as Indonesian; CLD2 and langid.py say Malay."""
    doc = Document(id="ms", text="Tidak dapat membuka fail untuk ditulis\nSila cuba lagi kemudian")
    (alone,) = LanguageId(LanguageId.Params(close_pairs=False)).predict_batch([doc])
    (voted,) = voter.predict_batch([doc])
    assert top_of(alone)[0] == "id"
    assert top_of(voted) == ("ms", 0.66667)


def test_langid_is_asked_only_when_fasttext_and_cld2_disagree(
    voter: LanguageVote, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    original = voter.langid.language
    monkeypatch.setattr(voter.langid, "language", lambda text: asked.append(text) or original(text))
    agreed = Document(id="de", text=SENTENCES["de"])
    disputed = Document(id="ms", text="Tidak dapat membuka fail untuk ditulis\nSila cuba lagi kemudian")
    (de, ms) = voter.predict_batch([agreed, disputed])
    assert top_of(de) == ("de", 1.0)
    assert asked == [disputed.text]


def test_paragraph_level_and_blank_documents(voter: LanguageVote) -> None:
    text = f"{SENTENCES['fr']}\n\n{SENTENCES['pl']}"
    doc = Document(id="two", text=text)
    params = LanguageVote.Params(level="both")
    (out,) = LanguageVote(params).predict_batch([doc])
    assert [k for k in out if k.startswith("paragraph_top_")] == ["paragraph_top_fr", "paragraph_top_pl"]
    assert out["paragraph_top_pl"][0][:2] == (text.index(SENTENCES["pl"]), len(text))
    assert voter.predict_batch([Document(id="blank", text="  \n")]) == [{}]


def test_language_vote_is_registered() -> None:
    from dolma import registry

    assert registry.all_taggers()["language_vote"] is language_vote.LanguageVote
    assert registry.all_taggers()["language_langid"] is language_vote.LanguageLangId


def test_a_language_only_lid176_names_is_not_outvoted(voter: LanguageVote) -> None:
    """Asturian: CLD2 and langid.py cannot name it (they say Spanish), so lid.176's answer stands."""
    assert "ast" in voter.only_fasttext and "es" not in voter.only_fasttext and "sh" not in voter.only_fasttext
    doc = Document(id="ast", text="Nun se pudo abrir el ficheru pa escribir.\nLa configuración nun ye válida.")
    (alone,) = LanguageId(LanguageId.Params(close_pairs=False)).predict_batch([doc])
    (voted,) = voter.predict_batch([doc])
    assert top_of(alone)[0] == "ast"
    assert top_of(voted) == ("ast", 1.0)
