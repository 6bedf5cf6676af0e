"""What the LLM must answer, and a tolerant parser for answers given as text.

Two schemas of the same shape (a list of objects, each with the entity's text as written):

- the one handed to the model (:func:`answer_schema`) enumerates ``type`` (the task's entity
  kinds, e.g. condition/finding/drug/procedure for ICU notes, phenotype/finding for BC8) and
  ``assertion`` (:data:`ASSERTIONS`, required) as ``Literal`` values, so a tool schema, a
  ``json_schema`` response format or a decoding grammar constrains them: a grammar-bound
  small model can then neither invent a type nor leave the assertion out;
- the one answers are read with (:class:`LLMEntities`) is lenient about vocabulary (free
  strings normalised afterwards): a model answering in text writes "Condition", "absent" or
  "past history", and rejecting a whole answer for a synonym would waste a correct extraction.

Answers given as text go through :func:`parse_answer`: it strips code fences, finds the first
JSON array or object, drops trailing commas and validates with Pydantic.
"""

from __future__ import annotations

import json
import re

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from realm.errors import LLMError
from realm.records import Assertion

__all__ = [
    "SCHEMA_VERSION",
    "LLMEntity",
    "LLMEntities",
    "parse_answer",
    "normalize_type",
    "normalize_assertion",
    "ENTITY_TYPES",
    "ASSERTIONS",
    "answer_schema",
]

#: Bump when the schema or its normalisation changes: it is part of the answer-cache key.
SCHEMA_VERSION = "2"

#: The assertion values the model is offered (one per :class:`Assertion`).
ASSERTIONS: tuple[str, ...] = ("present", "negated", "historical", "family", "hypothetical")

#: The entity kinds the prompt asks for -> node types of the KG (realm.records.NODE_TYPES).
ENTITY_TYPES: dict[str, str] = {
    "condition": "disease",
    "disease": "disease",
    "diagnosis": "disease",
    "finding": "phenotype",
    "symptom": "phenotype",
    "sign": "phenotype",
    "phenotype": "phenotype",
    "drug": "drug",
    "medication": "drug",
    "procedure": "procedure",
    "treatment": "procedure",
    "lab": "lab_finding",
    "lab_finding": "lab_finding",
}

_ASSERTIONS: dict[str, Assertion] = {
    "present": Assertion.PRESENT,
    "positive": Assertion.PRESENT,
    "affirmed": Assertion.PRESENT,
    "negated": Assertion.NEGATED,
    "negative": Assertion.NEGATED,
    "absent": Assertion.NEGATED,
    "denied": Assertion.NEGATED,
    "ruled out": Assertion.NEGATED,
    "historical": Assertion.HISTORICAL,
    "history": Assertion.HISTORICAL,
    "past": Assertion.HISTORICAL,
    "past history": Assertion.HISTORICAL,
    "family": Assertion.FAMILY,
    "family history": Assertion.FAMILY,
    "hypothetical": Assertion.HYPOTHETICAL,
    "possible": Assertion.HYPOTHETICAL,
    "uncertain": Assertion.HYPOTHETICAL,
    "suspected": Assertion.HYPOTHETICAL,
    "conditional": Assertion.HYPOTHETICAL,
}


class LLMEntity(BaseModel):
    """One entity as the model reports it."""

    model_config = ConfigDict(extra="ignore")

    text: str = Field(description="the entity exactly as written in the note, copied verbatim")
    type: str = Field(description="condition, finding, drug or procedure")
    assertion: str | None = Field(
        default=None,
        description="present, negated, historical, family or hypothetical",
    )
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)

    @field_validator("text")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("entity text is empty")
        return value


class LLMEntities(BaseModel):
    """The whole answer: every task-relevant medical entity in the text."""

    entities: list[LLMEntity] = Field(default_factory=list)


def answer_schema(entity_types: tuple[str, ...]) -> type[BaseModel]:
    """The schema handed to the model: :class:`LLMEntities` with ``type`` one of
    ``entity_types`` and ``assertion`` one of :data:`ASSERTIONS`."""
    if not entity_types:
        raise ValueError("answer_schema needs at least one entity type")
    entity = create_model(
        "Entity",
        __doc__="One entity as it is written in the note.",
        text=(str, Field(description="the entity exactly as written in the note, copied verbatim")),
        type=(Literal[entity_types], Field(description="the kind of entity: " + ", ".join(entity_types))),
        assertion=(Literal[ASSERTIONS], Field(description="; ".join(ASSERTIONS))),
    )
    return create_model(
        "Entities",
        __doc__="Every task-relevant medical entity in the text.",
        entities=(list[entity], ...),  # type: ignore[valid-type] - required: a grammar must emit it
    )


def normalize_type(raw: str) -> str:
    """The KG node type of an entity kind the model wrote (unknown kinds kept, lower-cased)."""
    key = " ".join(raw.lower().replace("-", " ").replace("_", " ").split())
    return ENTITY_TYPES.get(key, ENTITY_TYPES.get(key.replace(" ", "_"), key.replace(" ", "_")))


def normalize_assertion(raw: str | None) -> Assertion | None:
    """The :class:`Assertion` the model wrote, or None when missing or unrecognised."""
    if raw is None:
        return None
    key = " ".join(raw.lower().replace("_", " ").replace("-", " ").split())
    return _ASSERTIONS.get(key)


_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([\]}])")


def _first_json(text: str) -> str | None:
    """The first balanced JSON array or object in ``text`` (strings and escapes respected)."""
    start = next((i for i, ch in enumerate(text) if ch in "[{"), None)
    if start is None:
        return None
    stack: list[str] = []
    in_string = escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            stack.append("]" if ch == "[" else "}")
        elif ch in "]}":
            if not stack or stack.pop() != ch:
                return None
            if not stack:
                return text[start : i + 1]
    return None


def parse_answer(answer: str) -> LLMEntities:
    """Parse a text answer into :class:`LLMEntities`; :class:`LLMError` when unusable.

    Accepts ``{"entities": [...]}``, a bare list of entities, or either inside a code fence
    or surrounded by prose. The error message describes the defect, never the answer text.
    """
    fenced = _FENCE.search(answer)
    body = fenced.group(1) if fenced else answer
    blob = _first_json(body) or _first_json(answer)
    if blob is None:
        if not answer.strip():
            return LLMEntities()  # an empty answer means "nothing found", not a format error
        raise LLMError("answer holds no JSON array or object")
    try:
        data = json.loads(_TRAILING_COMMA.sub(r"\1", blob))
    except json.JSONDecodeError as exc:
        raise LLMError(f"answer is not valid JSON ({exc.msg} at position {exc.pos})") from None
    except (ValueError, RecursionError) as exc:
        # Python's own limits: an integer of thousands of digits, arrays nested thousands
        # deep. Neither is an answer; both must be a clear LLMError, not a crash.
        raise LLMError(f"answer is not usable JSON ({type(exc).__name__})") from None
    if isinstance(data, list):
        data = {"entities": data}
    elif isinstance(data, dict) and "entities" not in data and "text" in data:
        data = {"entities": [data]}  # a single entity object
    try:
        return LLMEntities.model_validate(data)
    except ValidationError as exc:
        # only locations and error kinds: pydantic's default message quotes the input values
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in exc.errors()[:5])
        raise LLMError(f"answer does not match the entity schema ({where})") from None
