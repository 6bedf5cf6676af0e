"""Models: time-series encoders, the LightningModule base, REALM and its optional logit terms.

Names are imported on first use (PEP 562) so that ``realm.models.baselines`` and
``realm.features.tabular`` load without importing torch and Lightning.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "EncoderFactory": "realm.models.encoders",
    "GRUEncoder": "realm.models.encoders",
    "TimeSeriesEncoder": "realm.models.encoders",
    "TransformerEncoder": "realm.models.encoders",
    "MultitaskHead": "realm.models.module",
    "RealmTask": "realm.models.module",
    "TimeSeriesModel": "realm.models.module",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'realm.models' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return __all__
