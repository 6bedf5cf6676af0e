"""Records shared by every stage: a mention found in a note, a KG node, a stay's entity set.

They live here, not in a stage, because they cross stages: extraction produces mentions,
the KG linker fills their node ids, the models consume entity sets. Records are immutable
dataclasses; build a changed copy with :func:`dataclasses.replace`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from realm.errors import ExtractionError

__all__ = ["Assertion", "Mention", "Node", "EntitySet", "NODE_TYPES"]

#: Node types known to the default KG; custom KGs may add others.
NODE_TYPES: tuple[str, ...] = (
    "disease",
    "phenotype",
    "drug",
    "drug_class",
    "gene",
    "procedure",
    "lab_finding",
    "category",
)


class Assertion(str, Enum):
    """What a note says about a mention (ConText categories)."""

    PRESENT = "present"
    NEGATED = "negated"  # also "normal" findings in exam notes ("palate: normal")
    HISTORICAL = "historical"
    FAMILY = "family"
    HYPOTHETICAL = "hypothetical"  # includes uncertain / possible


@dataclass(frozen=True)
class Mention:
    """One entity mention, grounded in the text it was found in.

    ``spans`` are half-open character offsets into the note; a discontinuous mention
    ("EYES: ... up-slant") has several. ``text`` is the covered text joined by a space.
    """

    text: str
    spans: tuple[tuple[int, int], ...]
    type: str
    assertion: Assertion = Assertion.PRESENT
    section: str | None = None
    extractor: str = "unknown"
    confidence: float = 1.0
    note_id: str | None = None
    stay_id: int | None = None
    node_id: str | None = None
    link_score: float | None = None
    #: the concept of ``node_id`` (its representative node id) and every code of that
    #: concept, representative first; filled by the linker with ``node_id``
    concept_id: str | None = None
    codes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.spans:
            raise ExtractionError(f"mention from {self.extractor!r} has no spans")
        for start, end in self.spans:
            if not (0 <= start < end):
                raise ExtractionError(
                    f"mention from {self.extractor!r} has an invalid span ({start}, {end})"
                )

    def is_grounded_in(self, note: str) -> bool:
        """True when every span lies inside ``note`` and the spans' text is ``self.text``."""
        if any(end > len(note) for _, end in self.spans):
            return False
        covered = " ".join(note[s:e] for s, e in self.spans)
        return " ".join(covered.split()).lower() == " ".join(self.text.split()).lower()

    def check_grounded(self, note: str) -> None:
        """Raise :class:`ExtractionError` (without note text) unless grounded in ``note``."""
        if not self.is_grounded_in(note):
            raise ExtractionError(
                f"mention from {self.extractor!r} at spans {list(self.spans)} is not grounded "
                f"in note {self.note_id!r}"
            )


@dataclass(frozen=True)
class Node:
    """A knowledge-graph node."""

    id: str
    name: str
    type: str
    synonyms: tuple[str, ...] = ()
    definition: str = ""
    source: str = ""
    xrefs: tuple[str, ...] = ()


@dataclass(frozen=True)
class EntitySet:
    """The linked entities of one stay, as the model sees them (one row per node)."""

    stay_id: int
    node_ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    assertions: tuple[Assertion, ...] = ()
    counts: tuple[int, ...] = ()
    first_hours: tuple[float, ...] = ()
    link_scores: tuple[float, ...] = ()
    extra: dict[str, tuple] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.node_ids)
        for name in ("types", "assertions", "counts", "first_hours", "link_scores"):
            if len(getattr(self, name)) != n:
                raise ExtractionError(
                    f"EntitySet of stay {self.stay_id}: {name} has {len(getattr(self, name))} "
                    f"items, node_ids has {n}"
                )

    def __len__(self) -> int:
        return len(self.node_ids)
