"""MEDS (the Medical Event Data Standard): realm cohorts out to MEDS datasets and back.

:func:`export_meds` writes a cohort folder as a MEDS dataset; :func:`read_meds` reads a
MEDS dataset into a cohort through a code mapping (:func:`load_mapping`). The ``meds``
package (``pip install realm[meds]``) supplies the schemas both sides validate against.
"""

from typing import Any

from realm.data.meds.export import export_meds
from realm.data.meds.mapping import MedsMapping, load_mapping
from realm.errors import ConfigError

__all__ = ["export_meds", "read_meds", "load_mapping", "MedsMapping"]


def __getattr__(name: str) -> Any:
    # read_meds scans shards with polars (the `meds` extra), so it is imported on first use:
    # realm's predictions and evaluation import this package's schema checks without that extra.
    if name == "read_meds":
        try:
            from realm.data.meds.reader import read_meds
        except ImportError as exc:
            raise ConfigError(f"reading MEDS needs {exc.name}: pip install 'realm[meds]'") from exc
        return read_meds
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
