"""The batch contract: the keys, codes and widths that feature providers write and models read.

Both sides import this module (a provider never imports a model, a model never imports a
provider). Shapes, with B stays, E entities, N note chunks, V variables, S statistics:

    entities_vectors (B, E, node_dim)  entities_type (B, E)  entities_assertion (B, E)
    entities_numbers (B, E, N_ENTITY_NUMBERS)  entities_mask (B, E)     realm.features.entities
    notes_emb (B, N, note_dim)  notes_mask (B, N)                       realm.features.notes
    record_vector (B, record_dim)                                       realm.features.record
    summary_values (B, V (+ factors), S)  summary_present (B, V (+ factors))
                                                                        realm.features.summary
    aux_values (B, A), NaN = no target                                  realm.features.aux_targets

The sizes a model needs before it sees any data come from here too (:func:`summary_shape`)
or are linked from the DataModule's providers (node_dim, the note and record widths).
"""

from __future__ import annotations

from realm.errors import ConfigError
from realm.records import NODE_TYPES, Assertion

__all__ = ["ENTITY_KEYS", "NOTE_KEYS", "RECORD_KEY", "SUMMARY_KEYS", "AUX_KEY", "N_ENTITY_NUMBERS",
           "N_ASSERTIONS", "PRESENT_CODE", "N_ENTITY_TYPES", "summary_shape"]

ENTITY_KEYS = ("entities_vectors", "entities_type", "entities_assertion", "entities_numbers",
               "entities_mask")
NOTE_KEYS = ("notes_emb", "notes_mask")
RECORD_KEY = "record_vector"
SUMMARY_KEYS = ("summary_values", "summary_present")
AUX_KEY = "aux_values"

#: Numbers per entity: log1p(count), first hour / window, link score, then the values of a
#: time-series finding (realm.features.entities.finding_numbers; 0 for note mentions).
N_ENTITY_NUMBERS = 7
#: Assertion codes of ``entities_assertion``: 0 = padding, then realm.records.Assertion order.
N_ASSERTIONS = len(Assertion) + 1
#: Assertion code of "present".
PRESENT_CODE = list(Assertion).index(Assertion.PRESENT) + 1
#: Entity type codes of ``entities_type``: 0 = padding, then realm.records.NODE_TYPES, then other.
N_ENTITY_TYPES = len(NODE_TYPES) + 2


def summary_shape(n_factors: int = 0) -> tuple[int, int]:
    """(V + n_factors, S) of ``summary_values``: the variables of ``variables.csv`` (plus one
    pseudo-variable per factor score, realm.features.summary) and the statistics per variable.
    Fixed by the packaged resources and the argument, so a model can size itself without
    seeing the data."""
    from realm.features.tabular import STATS
    from realm.resources import load_variables

    if isinstance(n_factors, bool) or not isinstance(n_factors, int) or n_factors < 0:
        raise ConfigError(f"n_factors must be a non-negative integer, got {n_factors!r}")
    return len(load_variables()) + n_factors, len(STATS)
