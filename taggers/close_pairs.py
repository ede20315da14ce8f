"""Second opinion for close pairs no statistical identifier here separates: a regional or minority language
read as its large neighbour (Maithili as Hindi, Limburgish as Dutch, Bosnian as Croatian, Aragonese and
Asturian as Spanish, Interlingua as Latin, Spanish or Italian), and two pairs read either way (Malay and
Indonesian, Norwegian Nynorsk and Bokmål; Croatian read as Bosnian too).

Each rule names words, endings and word pairs of the small language's standard written form that its
neighbours do not write (from their grammars, not learnt from data), and the neighbours' own common words. A
text an identifier gave to a neighbour moves to the small language when its markers are two different ones
(or one, three times) and outnumber the neighbour's words. Only texts whose answer is a neighbour are split
into words at all; every other answer is left alone. How the rules were checked (labelled sets, and the false
moves on every gettext catalogue of the neighbour languages here): benchmarks/RESULTS.md, "Curation quality".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dolma import Span


@dataclass(frozen=True)
class Rule:
    language: str
    """The language the rule can answer (the small one of a pair, or either of a pair read both ways)."""
    neighbours: frozenset[str]
    """Answers of the identifiers the rule may replace."""
    words: frozenset[str]
    """Words of the small language its neighbours do not write."""
    endings: tuple[str, ...]
    """Word endings of the small language its neighbours do not write (a word ending in two counts once)."""
    against: frozenset[str]
    """Common words of the neighbours the small language does not write."""
    phrases: tuple[str, ...] = ()
    """Word pairs of the small language (each occurrence is a marker)."""
    against_phrases: tuple[str, ...] = ()
    """Word pairs of the neighbours."""


def _rule(
    language: str, neighbours: str, words: str, endings: str, against: str, phrases: str = "", against_phrases: str = ""
) -> Rule:
    return Rule(
        language,
        frozenset(neighbours.split()),
        frozenset(words.split()),
        tuple(endings.split()),
        frozenset(against.split()),
        tuple(p.strip() for p in phrases.split(",") if p.strip()),
        tuple(p.strip() for p in against_phrases.split(",") if p.strip()),
    )


RULES = (
    # Maithili: copula अछि/छथि/छल, एकटा "one, a", लेल "for", आओर "and", postpositions केँ सँ, participles in -ैत/-ल.
    _rule(
        "mai",
        "hi ne mr bh new sa",
        "अछि छथि छल छलाह छलै छी छै एकटा लेल आओर कएल करैत होइत होएत हएत सकैत जाइत देल गेल केँ सँ अहाँ जकरा "
        "एहि ओहि कोनो कहिना जखन तखन नहि ओ एकर हमर अपन",
        "",
        "है हैं था थे थी में नहीं गया गई किया रहा रही करता करती होता होती यह वह और लिए जाता जाती सकता सकते "
        "छ छन् हो गर्न भएको लागि एउटा गरेको आहे आहेत नाही केले करा",
    ),
    # Limburgish: neet "not", gein "no", vaan "of", oet "out", mit "with", veur "for", ouch "also", weurt
    # "becomes", and the ó/ò of its spelling.
    _rule(
        "li",
        "nl af",
        "neet gein geine geinen vaan oet mit veur ouch weurt weure kinne ein eine bie nao noe ónthaud genóg óm allein",
        "ó ò",
        "niet geen van een uit met voor ook wordt worden kan kunnen bij naar nu geen zijn deze het",
    ),
    # Aragonese: ye "is", ta/enta "to", contractions d'o/t'o, bi "there", -zión for Spanish -ción. Not fer or
    # encara, which Catalan writes, nor -dat nouns, which end Catalan participles too.
    _rule(
        "an",
        "es gl ca pt oc ext",
        "ye ta enta d'o d'os d'a d'as t'o t'os t'a t'as bi ixo ixe ixa iste ista amostrar dimpués puyar no'n "
        "chunto nomás",
        "zión zions",
        "el los las para hay del está ficheiro non sen nun les pa amb pas fichièr",
    ),
    # Asturian: ye "is", nun "not", pa, nel, esti, masculine -u, participles -áu, plurals -aes. Not its
    # feminine plural les (Catalan and Spanish write it), nor pela/col/facer (Portuguese, Italian, Galician).
    _rule(
        "ast",
        "es gl ca pt oc ext",
        "ye nun pa nel nela esti esi dalgún dalguna nengún tolos toles tamién fai pue puen dende",
        "áu aes eru ecíu",
        "el las para hay está ficheiro non sen ta enta bi d'o d'os t'o els amb per és aquest aquesta pas fichièr "
        "unha coa ao aos dun nunha não são também",
    ),
    # Bosnian: the da + present of "ne mogu da", da li, and its words štampa/podešavanja/tabela/sačuvati/
    # izabrati/hiljada/historija/sedmica/ćošak where Croatian writes ispis/postavke/tablica/spremiti/odabrati/
    # tisuća/povijest/tjedan/kut; Ijekavian, so not Serbian's Ekavian vreme/mesto/uvek.
    _rule(
        "bs",
        "hr sr sh",
        "obezbjediti obezbijediti sačuvati sačuvaj sačuvan sačuvana izaberite izaberi izabrati izabran "
        "hiljada hiljade historija historije sedmica sedmice fajl fajla fajlova ćošku ćošak obezbjedim",
        "štampa štampe štampu štampač štampača podešavanja podešavanje tabela tabele tabeli",
        "tko tisuća tisuće povijest tjedan tjedna ispis ispisa pisač pisača postavke postavki tablica tablice "
        "tablici spremi spremiti odaberite odabrati odabir izbornik osigurati pogreška pogreške mapa mape "
        "vreme mesto uvek primeniti reč posle deo",
        "da li, ne mogu da, ne može da, treba da, mora da, želite da, možete da",
        "je li, želite li, možete li, ne mogu se, nije moguće",
    ),
    # Croatian read as Bosnian (the reverse of the rule above): Croatian's tko/tisuća/povijest/tjedan and its
    # computing words ispis/pisač/postavke/spremiti/odabrati/izbornik, and "je li", "želite li".
    _rule(
        "hr",
        "bs",
        "tko tisuća tisuće povijest tjedan tjedna ispis ispisa ispiši pisač pisača postavke postavki spremi "
        "spremiti spremanje odaberite odabrati odabir izbornik izbornika osigurati pogreška pogreške",
        "",
        "obezbjediti obezbijediti sačuvati sačuvaj izaberite izaberi izabrati hiljada hiljade historija sedmica "
        "fajl fajla štampa štampe štampač štampača podešavanja podešavanje tabela tabele tabeli",
        "je li, želite li, možete li",
        "da li, ne mogu da, ne može da, treba da, mora da, želite da, možete da",
    ),
    # Malay and Indonesian, each read as the other: Malay fail/sila/cuba/kerana/bahawa/tetingkap/padam/
    # ralat/pautan/lalai/mesej/perisian where Indonesian writes berkas/silakan/coba/bisa/karena/bahwa/jendela/
    # hapus/galat/tautan/bawaan/pesan/perangkat lunak.
    _rule(
        "ms",
        "id",
        "fail sila cuba kerana bahawa sahaja tetingkap padam ralat pautan lalai mesej perisian kemaskini "
        "pelayan papar semasa laluan",
        "",
        "berkas silakan coba bisa karena bahwa saja jendela hapus galat kesalahan tautan bawaan pesan perangkat "
        "peladen tampilkan perbarui unduh sandi",
    ),
    _rule(
        "id",
        "ms",
        "berkas silakan coba bisa karena bahwa saja jendela hapus galat tautan bawaan pesan perangkat peladen "
        "tampilkan perbarui unduh sandi",
        "",
        "fail sila cuba kerana bahawa sahaja tetingkap padam ralat pautan lalai mesej perisian kemaskini "
        "pelayan papar semasa laluan",
    ),
    # Norwegian Nynorsk read as Bokmål (lid.176's no): ikkje/eg/kva/korleis/ein/eit/berre/frå/noko/mykje/vere
    # where Bokmål writes ikke/jeg/hva/hvordan/en/et/bare/fra/noe/mye/være; and the reverse.
    _rule(
        "nn",
        "no da",
        "ikkje eg kva korleis kvifor ein eit berre frå noko mykje heile vere vore medan dei ho eigen eigne",
        "",
        "ikke jeg hva hvordan hvorfor en et bare fra noe mye hele være vært mens de hun egen egne",
    ),
    _rule(
        "no",
        "nn",
        "ikke jeg hva hvordan hvorfor en et bare fra noe mye hele være vært mens hun egen egne",
        "",
        "ikkje eg kva korleis kvifor ein eit berre frå noko mykje heile vere vore medan dei ho eigen eigne",
    ),
    # Interlingua: article le, pro "for", necun, esser, anque, iste, tote, omne, nulle, plure, multe, tamben,
    # alicun, and a few words of its computing vocabulary (fenestra, seliger, deler). Not alcun, impossibile
    # or ma, which Italian writes; Spanish, Italian, Portuguese, Catalan and Latin write el/la/los,
    # il/gli/della/per/di, do/da/não, els/amb, est/et/sunt instead.
    _rule(
        "ia",
        "la es it pt io ie eo oc ca gl",
        "le pro necun necuno esser anque etiam illac ubi nomine nomines monstrar aperir clauder disactivar "
        "incognite iste ista isto tote toto omne nulle plure multe nunc jam tamben alicun alicuno fenestra "
        "fenestras seliger deler",
        "",
        "el la los las il gli della dei per di est et sunt cum ad para por y lo do da ao não são uma um unha kaj "
        "estas amb els",
    ),
)

_PUNCTUATION = re.compile(r"[.,;:!?()\[\]{}<>\"«»“”„/|=+*#…–—।]")  # 3x faster than str.translate here
_RULES_FOR: dict[str, list[Rule]] = {}
for _rule_ in RULES:
    for _neighbour in _rule_.neighbours:
        _RULES_FOR.setdefault(_neighbour, []).append(_rule_)


def refine(answer: str, text: str) -> tuple[str, float] | None:
    """The small language of a close pair and the share of its markers among the pair's counted words, when
    the words of ``text`` say ``answer`` is that language's neighbour; None to keep ``answer``."""
    rules = _RULES_FOR.get(answer)
    if not rules:
        return None
    lowered = _PUNCTUATION.sub(" ", text.lower())
    words = lowered.split()
    seen = set(words)  # intersected with each rule's word sets in C; most texts share no marker with any rule
    joined = ""
    best: tuple[str, float] | None = None
    most = 0
    for rule in rules:
        found = {w: words.count(w) for w in seen & rule.words}
        if rule.endings and any(ending in lowered for ending in rule.endings):  # a substring search first
            found.update((w, words.count(w)) for w in seen if w.endswith(rule.endings))
        if rule.phrases and any(phrase in lowered for phrase in rule.phrases):
            joined = joined or f" {' '.join(words)} "
            found.update((p, n) for p in rule.phrases if (n := joined.count(f" {p} ")))
        ours = sum(found.values())
        if ours <= most or (ours < 3 and len(found) < 2):  # one word twice can be a loan or a name
            continue
        theirs = sum(words.count(w) for w in seen & rule.against)
        if rule.against_phrases:
            joined = joined or f" {' '.join(words)} "
            theirs += sum(joined.count(f" {p} ") for p in rule.against_phrases)
        if ours > theirs:
            best, most = (rule.language, round(ours / (ours + theirs), 5)), ours
    return best


def refine_tops(text: str, attributes: dict[str, list[Span]]) -> dict[str, list[Span]]:
    """A language tagger's ``top_<lang>`` and ``paragraph_top_<lang>`` spans of one document, each moved to the
    small language of its close pair when :func:`refine` says so (scored with the marker share)."""
    parts = {key: key.rpartition("top_") for key in attributes}
    if not any(found and language in _RULES_FOR for _, found, language in parts.values()):
        return attributes
    out: dict[str, list[Span]] = {}
    for key, spans in attributes.items():
        prefix, found, language = parts[key]
        if not found or language not in _RULES_FOR:
            out.setdefault(key, []).extend(spans)
            continue
        for start, end, score in spans:
            moved = refine(language, text[start:end])
            target, value = (key, score) if moved is None else (f"{prefix}top_{moved[0]}", moved[1])
            out.setdefault(target, []).append((start, end, value))
    for spans in out.values():
        spans.sort()
    return out
