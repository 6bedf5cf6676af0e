"""The MEDS layout and schemas, from the ``meds`` package, with realm's error messages.

``meds`` is an optional extra (``pip install realm[meds]``); it is imported here only, so a
missing install is one clear error instead of an ImportError deep inside a stage.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
import pyarrow as pa

from realm.errors import ConfigError, DataError

__all__ = ["meds_package", "validate", "SPLIT_TO_MEDS", "SPLIT_FROM_MEDS",
           "LABELS_DIR"]

#: realm's split names and MEDS's sentinel ones, both ways.
SPLIT_TO_MEDS: dict[str, str] = {"train": "train", "val": "tuning", "test": "held_out"}
SPLIT_FROM_MEDS: dict[str, str] = {v: k for k, v in SPLIT_TO_MEDS.items()}
#: Where an export puts its task labels: ``labels/<task>/<shard>.parquet`` (the layout of
#: MEDS-DEV and ACES outputs: one folder of label shards per task).
LABELS_DIR = "labels"


def meds_package() -> ModuleType:
    """The ``meds`` module, or a ConfigError saying how to install it."""
    try:
        import meds
    except ImportError as exc:  # an optional extra: say which one
        raise ConfigError("MEDS support needs the meds package: pip install 'realm[meds]'") from exc
    return meds


def _field(error: Exception) -> str | None:
    """The first column a flexible_schema validation error names, for DataError.field."""
    for attr in ("missing_req_cols", "mistyped_cols", "disallowed_extra_cols",
                 "nullability_none_err_cols", "nullability_some_err_cols"):
        cols = getattr(error, attr, None)
        if cols:
            first = cols[0]
            return str(first[0] if isinstance(first, tuple) else first)
    return None


def validate(schema_name: str, arg: pa.Table | pa.Schema, path: Path,
             module: ModuleType | None = None) -> None:
    """Check a table (about to be, or just read from, ``path``) or a Parquet file's schema
    (read without its rows) against a ``meds`` schema such as ``DataSchema`` (or one of
    ``module``, e.g. ``meds_evaluation.schema``'s ``PredictionSchema``): columns, types and,
    for tables, nullability. Raises DataError naming the file and column."""
    schema = getattr(module if module is not None else meds_package(), schema_name)
    # flexible_schema comes with meds: its errors name the columns at fault.
    from flexible_schema.exceptions import SchemaValidationError, TableValidationError

    try:
        schema.validate(arg)
    except (SchemaValidationError, TableValidationError) as exc:
        raise DataError(f"not a valid MEDS {schema_name}: {exc}", path=path,
                        field=_field(exc)) from exc
