"""The extraction prompt, versioned, and the repair message sent after an unusable answer.

The prompt asks for entities copied verbatim: grounding (realm.extract.grounding) finds them
back in the note, and anything paraphrased beyond a typo is dropped as a hallucination.
It asks for the assertion explicitly because REALM's published code ignored negation, so
"no pneumonia" became pneumonia. It lists the task's entity kinds (:data:`ICU_TYPES` for ICU
notes; BC8's phenotype text passes its own), the same ones the answer schema enumerates.
"""

from __future__ import annotations

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

__all__ = ["PROMPT_VERSION", "build_messages", "repair_messages", "DEFAULT_TASK", "ICU_TYPES", "TYPE_HINTS",
           "JSON_FORMAT", "system_prompt"]

#: Bump whenever the wording changes: it is part of the answer-cache key.
PROMPT_VERSION = "2"

DEFAULT_TASK = "in-hospital mortality and 30-day readmission of ICU patients"
#: The entity kinds asked of ICU notes.
ICU_TYPES: tuple[str, ...] = ("condition", "finding", "drug", "procedure")
#: What each entity kind the prompt may ask for covers.
TYPE_HINTS: dict[str, str] = {
    "condition": "diseases, diagnoses, syndromes",
    "disease": "diseases, diagnoses, syndromes",
    "finding": "symptoms, signs, abnormal exam or laboratory findings",
    "phenotype": "observable traits: physical, dysmorphic, developmental or behavioural features",
    "drug": "medications and drug classes",
    "procedure": "procedures, devices, therapies (e.g. mechanical ventilation)",
    "lab_finding": "abnormal laboratory results",
}

_SYSTEM = """You extract medical entities from clinical notes for a risk model of {task}.

Return every medical entity in the note that is relevant to the patient's condition:
{kinds}

For each entity give:
- "text": the words EXACTLY as written in the note (copy them; do not expand abbreviations,
  fix spelling, or paraphrase). Keep it short: the entity itself, not the whole sentence.
- "type": one of {types}
- "assertion": one of present, negated (denied, absent, ruled out, normal), historical
  (past history, resolved), family (about a relative), hypothetical (possible, suspected,
  to rule out, if/should)

Report an entity once per occurrence. Do not report entities that are not in the note.
If there are none, return an empty list."""

#: Appended to the system message when the model does not see the schema (realm.llm.client).
JSON_FORMAT = """

Answer with JSON only, no prose, in this form:
{"entities": [{"text": "...", "type": "...", "assertion": "..."}]}"""

_USER = "Clinical note{part}:\n<<<\n{text}\n>>>"

_REPAIR = (
    "Your previous answer could not be used: {problem}. Answer again with JSON only, "
    'exactly in the form {{"entities": [{{"text": "...", "type": "...", "assertion": "..."}}]}}.'
)


def system_prompt(task: str = DEFAULT_TASK, entity_types: tuple[str, ...] = ICU_TYPES) -> str:
    """The instructions, listing ``entity_types`` (the JSON form is added by the client only
    for output methods whose model does not see the schema)."""
    kinds = "\n".join(f"- {kind}: {TYPE_HINTS.get(kind, kind.replace('_', ' '))}" for kind in entity_types)
    return _SYSTEM.format(task=task, kinds=kinds, types=", ".join(entity_types))


def build_messages(text: str, *, task: str = DEFAULT_TASK, entity_types: tuple[str, ...] = ICU_TYPES,
                   part: tuple[int, int] | None = None) -> list[BaseMessage]:
    """The messages for one chunk. ``part`` = (index, total) tells the model it sees an
    excerpt of a longer note."""
    system = system_prompt(task, entity_types)
    label = f" (part {part[0] + 1} of {part[1]})" if part is not None and part[1] > 1 else ""
    return [SystemMessage(system), HumanMessage(_USER.format(part=label, text=text))]


def repair_messages(messages: list[BaseMessage], answer: str, problem: str) -> list[BaseMessage]:
    """``messages`` followed by the unusable answer and an instruction to fix its format.
    ``problem`` is an :class:`~realm.errors.LLMError` message, which never quotes the answer."""
    return [*messages, AIMessage(answer), HumanMessage(_REPAIR.format(problem=problem))]
