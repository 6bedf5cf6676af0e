"""Converting MIMIC chart and lab values to the canonical unit of their variable.

A conversion is named in the ``conversion`` column of ``realm/resources/mimic*_itemids.csv``:
a unit change (``f_to_c``, ``lb_to_kg``, ...), FiO2 percent-or-fraction, or the parsing of
a categorical answer (GCS, capillary refill) to its numeric category. The functions work
on arrays, so the event reader can apply them one record batch at a time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from realm.errors import ConfigError

__all__ = ["CONVERSIONS", "CATEGORICAL", "parse_category", "convert_values"]

# Text answers of the categorical items, lower-cased; CareVue prefixes the score
# ("4 Spontaneously"), MetaVision does not ("Spontaneously"), so both forms are listed
# through the leading-number rule in parse_category.
_WORDS: dict[str, dict[str, float]] = {
    "gcs_eye": {"spontaneously": 4, "to speech": 3, "to pain": 2, "no response": 1, "none": 1},
    "gcs_motor": {
        "obeys commands": 6, "localizes pain": 5, "flex-withdraws": 4, "abnormal flexion": 3,
        "abnorm flexion": 3, "abnormal extension": 2, "abnorm extensn": 2, "no response": 1,
    },
    "gcs_verbal": {
        "oriented": 5, "confused": 4, "inappropriate words": 3, "inapprop words": 3,
        "incomprehensible sounds": 2, "incomp sounds": 2, "no response-ett": 1,
        "no response": 1, "et/trach": 1,
    },
}
_LEADING_NUMBER = re.compile(r"^\s*(\d+(?:\.0+)?)\b")
_FACTORS = {"none": 1.0, "lb_to_kg": 0.45359237, "oz_to_kg": 0.028349523125, "in_to_cm": 2.54}

#: Conversions that parse a categorical text answer.
CATEGORICAL: frozenset[str] = frozenset({*_WORDS, "cap_refill"})
#: Every conversion name the itemid maps may use.
CONVERSIONS: tuple[str, ...] = ("none", "f_to_c", "lb_to_kg", "oz_to_kg", "in_to_cm",
                                "fio2_fraction", "gcs_eye", "gcs_motor", "gcs_verbal", "cap_refill")


def parse_category(conversion: str, text: object) -> float | None:
    """The numeric category of a GCS or capillary-refill answer, or None if unknown.

    "4 Spontaneously" and "Spontaneously" both give 4; "Normal <3 secs" gives 0 and
    "Abnormal >3 secs" gives 1.
    """
    if not isinstance(text, str):
        return None
    low = " ".join(text.lower().split())
    if conversion == "cap_refill":
        if low.startswith("abnormal") or low.startswith(">3"):
            return 1.0
        if low.startswith("normal") or low.startswith("<3"):
            return 0.0
        return None
    words = _WORDS.get(conversion)
    if words is None:
        raise ConfigError(f"unknown categorical conversion {conversion!r}")
    match = _LEADING_NUMBER.match(low)
    if match:
        return float(match.group(1))
    return float(words[low]) if low in words else None


def _parse_texts(conversion: str, text: np.ndarray) -> np.ndarray:
    """parse_category over an object array, once per distinct text (answers repeat a lot)."""
    out = np.full(len(text), np.nan)
    if len(text) == 0:
        return out
    uniques, inverse = np.unique(np.where(pd.isna(text), "", text).astype(str), return_inverse=True)
    parsed = np.array([parse_category(conversion, t) if t else None for t in uniques], dtype="float64")
    out[:] = parsed[inverse]
    return out


def convert_values(
    conversion: str, value: pd.Series, valuenum: pd.Series, categories: Sequence[float] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """Convert one variable's rows to its canonical unit.

    ``value`` is the text column, ``valuenum`` the numeric one (NaN where absent). Returns
    the converted values and a mask of rows that could not be converted.
    """
    if conversion not in CONVERSIONS:
        raise ConfigError(f"unknown unit conversion {conversion!r}")
    # A copy: pandas may hand out a read-only view, and missing numbers are filled in below.
    num = pd.to_numeric(valuenum, errors="coerce").to_numpy(dtype="float64", na_value=np.nan, copy=True)
    missing = np.isnan(num)
    if conversion in CATEGORICAL:
        cats = np.array(sorted(set(categories)), dtype="float64")
        valid_num = np.isin(num, cats) if len(cats) else ~missing
        out = num.copy()
        # Only rows without a usable number are parsed as text.
        todo = ~valid_num
        out[todo] = _parse_texts(conversion, value.to_numpy(dtype=object)[todo])
        if len(cats):  # a number outside the categories ("7" for GCS eye) is not a category
            out[~np.isin(out, cats)] = np.nan
        return out, np.isnan(out)
    if missing.any():
        # VALUENUM may be empty where VALUE holds the number (CSV exports, text items);
        # only those rows' text is parsed.
        text = pd.Series(value.to_numpy(dtype=object)[missing], dtype=object)
        num[missing] = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    if conversion == "f_to_c":
        out = (num - 32.0) * 5.0 / 9.0
    elif conversion == "fio2_fraction":
        # Charted as percent (21-100) or as a fraction (0.21-1): mimic3-benchmarks' rule.
        out = np.where(num > 1.0, num / 100.0, num)
    else:
        out = num * _FACTORS[conversion]
    return out, np.isnan(out) | np.isinf(out)
