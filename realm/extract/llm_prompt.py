"""The extraction prompt, versioned, and the repair message sent after an unusable answer.

The prompt asks for entities copied verbatim: grounding (realm.extract.grounding) finds them
back in the note, and anything paraphrased beyond a typo is dropped as a hallucination.
It asks for the assertion explicitly because REALM's published code ignored negation, so
"no pneumonia" became pneumonia.
"""

from __future__ import annotations

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

__all__ = ["PROMPT_VERSION", "build_messages", "repair_messages", "DEFAULT_TASK"]

#: Bump whenever the wording changes: it is part of the answer-cache key.
PROMPT_VERSION = "1"

DEFAULT_TASK = "in-hospital mortality and 30-day readmission of ICU patients"

_SYSTEM = """You extract medical entities from clinical notes for a risk model of {task}.

Return every medical entity in the note that is relevant to the patient's condition:
- condition: diseases, diagnoses, syndromes
- finding: symptoms, signs, abnormal exam or laboratory findings
- drug: medications and drug classes
- procedure: procedures, devices, therapies (e.g. mechanical ventilation)

For each entity give:
- "text": the words EXACTLY as written in the note (copy them; do not expand abbreviations,
  fix spelling, or paraphrase). Keep it short: the entity itself, not the whole sentence.
- "type": one of condition, finding, drug, procedure
- "assertion": one of present, negated (denied, absent, ruled out, normal), historical
  (past history, resolved), family (about a relative), hypothetical (possible, suspected,
  to rule out, if/should)

Report an entity once per occurrence. Do not report entities that are not in the note.
If there are none, return an empty list."""

_JSON_FORMAT = """

Answer with JSON only, no prose, in this form:
{"entities": [{"text": "...", "type": "...", "assertion": "..."}]}"""

_USER = "Clinical note{part}:\n<<<\n{text}\n>>>"

_REPAIR = (
    "Your previous answer could not be used: {problem}. Answer again with JSON only, "
    'exactly in the form {{"entities": [{{"text": "...", "type": "...", "assertion": "..."}}]}}.'
)


def build_messages(text: str, *, task: str = DEFAULT_TASK, json_mode: bool, part: tuple[int, int] | None = None) -> list[BaseMessage]:
    """The messages for one chunk. ``json_mode`` adds the JSON format instructions that a
    model answering in text needs (tool-calling models get the schema as a tool instead).
    ``part`` = (index, total) tells the model it sees an excerpt of a longer note."""
    system = _SYSTEM.format(task=task) + (_JSON_FORMAT if json_mode else "")
    label = f" (part {part[0] + 1} of {part[1]})" if part is not None and part[1] > 1 else ""
    return [SystemMessage(system), HumanMessage(_USER.format(part=label, text=text))]


def repair_messages(messages: list[BaseMessage], answer: str, problem: str) -> list[BaseMessage]:
    """``messages`` followed by the unusable answer and an instruction to fix its format.
    ``problem`` is an :class:`~realm.errors.LLMError` message, which never quotes the answer."""
    return [*messages, AIMessage(answer), HumanMessage(_REPAIR.format(problem=problem))]
