"""Reading a language model's free-text answer back into a task's answer space.

The EHRmonize study saw one model fall to near-zero accuracy because its replies drifted
from the requested format ("The route is: Oral.", "**Answer:** yes - it is a penicillin").
So replies are never compared verbatim: markup, quotes, "Answer:" prefixes and trailing
explanations are stripped, case and punctuation normalised, synonyms mapped onto the
class set. A reply naming no class, or two different ones, is *unparseable*: it is
counted, never guessed into a class.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from realm.harmonize.tasks import UNSURE, HarmonizeTask, normalize_generic

__all__ = ["Answer", "ParsedAnswer", "parse_answer"]

Status = Literal["ok", "unsure", "unparseable"]

_UNSURE_PATTERNS = re.compile(
    r"\b(unsure|not sure|uncertain|unknown|cannot (be )?determine[d]?|can't (be )?determine[d]?|"
    r"i (do not|don't) know|insufficient information|ambiguous)\b"
)
# Lead-ins a model puts before the answer proper: "Answer:", "The route class is:", ...
_PREFIX = re.compile(
    r"^(final answer|answer|output|response|result|classification|class|label|route class|route|"
    r"generic name|generic|drug name|the answer is|the route( class)? is|the generic name is|"
    r"the drug is|it is|this is)\s*[:=\-]?\s*",
)
_MARKUP = re.compile(r"[*_`#>\"“”‘’]")
# Words that reveal a sentence rather than a drug name in an open-vocabulary reply.
_SENTENCE_WORDS = {"is", "the", "this", "it", "its", "of", "medication", "drug", "name", "which", "because", "a", "an"}
_NAME_CHARS = re.compile(r"^[a-z0-9 /\-.,'()%+]+$")
_MAX_NAME_WORDS = 8


@dataclass(frozen=True)
class ParsedAnswer:
    """One reply read back: ``value`` is a class (or generic name) when ``status`` is ok."""

    value: str | None
    status: Status
    raw: str


def _first_line(raw: str) -> str:
    text = _MARKUP.sub("", raw).strip()
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _strip_prefixes(text: str) -> str:
    previous = None
    while previous != text:
        previous = text
        text = _PREFIX.sub("", text).strip()
    return text


def _words(text: str) -> str:
    """Lower-case words separated by single spaces ("/" kept: "po/ng")."""
    return " ".join(re.sub(r"[^a-z0-9/]+", " ", text.lower()).split())


def _closed(task: HarmonizeTask, line: str, raw: str) -> ParsedAnswer:
    text = _words(_strip_prefixes(line.lower()))
    # Classes and synonyms are matched in the same word form as the reply ("beta-lactam"
    # and "Beta lactam" are one answer).
    vocabulary = {_words(c): c for c in task.classes} | {_words(k): v for k, v in task.synonyms.items()}
    if text in vocabulary:
        return ParsedAnswer(vocabulary[text], "ok", raw)
    if _UNSURE_PATTERNS.search(line.lower()) or text == UNSURE:
        return ParsedAnswer(UNSURE, "unsure", raw)
    # Otherwise look for classes named inside the reply's first line. Very short synonyms
    # ("iv", "y", "1") are trusted only in a short reply: in a sentence they are noise.
    short = len(text.split()) <= 3
    found = set()
    padded = f" {text} "
    for term, cls in vocabulary.items():
        if (len(term) > 2 or short) and f" {term} " in padded:
            found.add(cls)
    # A reply that opens with a class ("No, this is not ...") means that class, unless a
    # different class is named later on ("oral or injectable").
    words = text.split()
    first = vocabulary.get(words[0]) if words else None
    if first is not None and found <= {first}:
        return ParsedAnswer(first, "ok", raw)
    if len(found) == 1:
        return ParsedAnswer(found.pop(), "ok", raw)
    return ParsedAnswer(None, "unparseable", raw)


def _open(line: str, raw: str) -> ParsedAnswer:
    lowered = line.lower()
    text = _strip_prefixes(lowered)
    if _UNSURE_PATTERNS.search(text) or text.strip(" .") == UNSURE:
        return ParsedAnswer(UNSURE, "unsure", raw)
    # A trailing explanation after a dash, colon or semicolon is not part of the name;
    # a parenthesised remark ("(brand: Tylenol)") neither.
    text = re.sub(r"\([^)]*\)?", " ", text)
    text = re.split(r"\s+-\s+|;|:\s", text)[0]
    text = text.strip(" .,'")
    words = text.replace("/", " ").split()
    if not text or not _NAME_CHARS.match(text) or len(words) > _MAX_NAME_WORDS:
        return ParsedAnswer(None, "unparseable", raw)
    if _SENTENCE_WORDS & set(words):
        return ParsedAnswer(None, "unparseable", raw)
    name = normalize_generic(text)
    if not re.search(r"[a-z0-9]", name):  # "/" or "+" alone: separators, no ingredient
        return ParsedAnswer(None, "unparseable", raw)
    return ParsedAnswer(name, "ok", raw)


def parse_answer(task: HarmonizeTask, raw: str | None) -> ParsedAnswer:
    """Read one model reply into ``task``'s answer space (see the module notes)."""
    raw = raw or ""
    line = _first_line(raw)
    if not line:
        return ParsedAnswer(None, "unparseable", raw)
    return _open(line, raw) if task.is_open else _closed(task, line, raw)


@dataclass(frozen=True)
class Answer:
    """A backend's decision for one string and task.

    ``agreement`` is the share of samples behind ``value`` (1.0 for a rule-based answer,
    0.0 when nothing answered); ``n_answers`` counts replies or rule hits consulted and
    ``n_unparseable`` the replies that could not be read. ``node_id`` / ``link_score`` name
    the KG drug node(s) behind a KG answer (``|``-joined for a combination product).
    """

    value: str
    agreement: float
    n_answers: int
    n_unparseable: int = 0
    node_id: str | None = None
    link_score: float | None = None
