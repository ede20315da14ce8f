"""Close-pair rules: the small language's marker words move a neighbour's answer, the neighbour's own text
stays put (pairs read either way, Malay/Indonesian and Croatian/Bosnian, both ways), and both language
taggers apply the rules unless ``close_pairs: false``."""

from __future__ import annotations

import pytest
from dolma.taggers.close_pairs import RULES, refine, refine_tops
from dolma.taggers.language import LanguageId
from dolma.taggers.language_vote import LanguageVote

from dolma import Document
from tests.taggers.test_language import top_of

# (small language, neighbour the identifiers answer, text in the small language, the same in the neighbour's)
PAIRS = [
    (
        "mai",
        "hi",
        "ई फाइल खोलल नहि जा सकैत अछि। एकटा नव फोल्डर बनाबै लेल क्लिक करू।",
        "यह फ़ाइल खोली नहीं जा सकती है। नया फ़ोल्डर बनाने के लिए क्लिक करें।",
    ),
    (
        "li",
        "nl",
        "Ich kin dit besjtandj neet äöpene, d'r is gein plaots mieë op de sjijf.",
        "Ik kan dit bestand niet openen, er is geen ruimte meer op de schijf.",
    ),
    (
        "bs",
        "hr",
        "Da li želite da sačuvate izmjene prije zatvaranja? Ne mogu da obezbjedim memoriju za štampač.",
        "Želite li spremiti promjene prije zatvaranja? Ne mogu osigurati memoriju za pisač.",
    ),
    (
        "an",
        "es",
        "No s'ha puesto ubrir o fichero ta leyer a configurazión d'o programa.",
        "No se ha podido abrir el fichero para leer la configuración del programa.",
    ),
    (
        "ast",
        "es",
        "Nun pudo abrise'l ficheru pa lleer la configuración del programa.",
        "No se pudo abrir el fichero para leer la configuración del programa.",
    ),
    (
        "hr",
        "bs",
        "Želite li spremiti promjene prije zatvaranja? Odaberite pisač za ispis.",
        "Da li želite da sačuvate izmjene prije zatvaranja? Izaberite štampač.",
    ),
    (
        "ms",
        "id",
        "Sila cuba lagi kerana fail tidak dapat dibuka dalam tetingkap ini.",
        "Silakan coba lagi karena berkas tidak dapat dibuka di jendela ini.",
    ),
    (
        "id",
        "ms",
        "Silakan coba lagi karena berkas tidak dapat dibuka di jendela ini.",
        "Sila cuba lagi kerana fail tidak dapat dibuka dalam tetingkap ini.",
    ),
    (
        "nn",
        "no",
        "Eg kan ikkje opne fila fordi ho berre er lesbar.",
        "Jeg kan ikke åpne filen fordi den bare er lesbar.",
    ),
    (
        "ia",
        "it",
        "Le file non pote esser aperite pro leger le configuration del programma.",
        "Il file non può essere aperto per leggere le impostazioni del programma.",
    ),
]


@pytest.mark.parametrize(("small", "neighbour", "ours", "theirs"), PAIRS, ids=[p[0] for p in PAIRS])
def test_markers_move_the_neighbours_answer_and_its_own_text_stays(
    small: str, neighbour: str, ours: str, theirs: str
) -> None:
    moved = refine(neighbour, ours)
    assert moved is not None and moved[0] == small and 0.5 < moved[1] <= 1.0
    assert refine(neighbour, theirs) is None
    assert refine(small, ours) is None  # an answer already right stays


def test_one_marker_is_not_enough_and_the_neighbours_words_outvote() -> None:
    assert refine("es", "El programa ye nuevo y se ha instalado en el equipo.") is None  # one marker
    italian = (
        "Le impostazioni della pagina pro forma non sono salvate: le modifiche per il gruppo di lavoro e gli utenti"
    )
    assert refine("it", italian) is None  # le, pro, le: outvoted by della, per, il, di, gli


def test_every_rule_has_markers_and_counter_words() -> None:
    for rule in RULES:
        assert rule.neighbours and rule.against and (rule.words or rule.endings or rule.phrases), rule.language
        assert rule.language not in rule.neighbours


def test_refine_tops_moves_each_span_and_keeps_other_keys() -> None:
    text = "Nun pudo abrise'l ficheru pa lleer.\n\nThe file could not be read."
    attributes = {
        "top_es": [(0, len(text), 0.6)],
        "paragraph_top_es": [(0, 35, 0.7)],
        "paragraph_top_en": [(37, len(text), 0.9)],
        "es": [(0, len(text), 0.6)],  # a chosen language's probability: not a top key
    }
    out = refine_tops(text, attributes)
    assert out["top_ast"] == [(0, len(text), 1.0)]
    assert out["paragraph_top_ast"] == [(0, 35, 1.0)]
    assert out["paragraph_top_en"] == attributes["paragraph_top_en"] and out["es"] == attributes["es"]
    assert "top_es" not in out and "paragraph_top_es" not in out
    english = {"top_en": [(0, 5, 0.9)]}
    assert refine_tops("Hello", english) is english


@pytest.mark.parametrize("tagger_class", [LanguageId, LanguageVote])
def test_both_language_taggers_apply_the_rules_unless_turned_off(tagger_class: type) -> None:
    doc = Document(id="mai", text=PAIRS[0][2] + "\n" + "कोनो त्रुटि भेल अछि, कृपया फेर सँ प्रयास करू।")
    (on,) = tagger_class(tagger_class.Params()).predict_batch([doc])
    (off,) = tagger_class(tagger_class.Params(close_pairs=False)).predict_batch([doc])
    assert top_of(on)[0] == "mai"
    assert top_of(off)[0] != "mai"  # lid.176 (and so the vote) reads this Maithili as another language
