"""Tabular baselines on summary-statistic features: gradient boosting and logistic regression.

Both take a feature frame from :func:`realm.features.tabular.summary_features` (NaN where
a variable was never measured) and a 0/1 label vector, and give ``P(y = 1)`` per row.

- :class:`GBMBaseline`: scikit-learn's ``HistGradientBoostingClassifier``, which routes
  missing values natively (no imputation), with early stopping on a stratified inner
  validation split so the number of trees is not tuned on the test set.
- :class:`LogisticBaseline`: median imputation + missingness indicators (missingness
  itself is predictive in ICU data) + standardization + L2 logistic regression, as one
  scikit-learn ``Pipeline`` so imputation statistics are learned on training rows only.

Everything random is seeded by ``seed``; the same seed gives the same predictions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from realm.errors import ConfigError, DataError

__all__ = ["GBMBaseline", "LogisticBaseline", "BASELINES", "fit_predict_baseline"]


def _as_matrix(features: pd.DataFrame | np.ndarray,
               columns: Sequence[str] | None) -> tuple[np.ndarray, list[str] | None]:
    """Features as a float matrix; frames must carry the columns seen at fit time."""
    if isinstance(features, pd.DataFrame):
        names = [str(c) for c in features.columns]
        if columns is not None and names != list(columns):
            missing = sorted(set(columns) - set(names))
            raise DataError(f"feature columns differ from those seen in fit "
                            f"(missing e.g. {missing[:3]})", field="features")
        matrix = features.to_numpy(dtype=float, na_value=np.nan)
    else:
        names = None
        matrix = np.asarray(features, dtype=float)
    if matrix.ndim != 2:
        raise DataError(f"features must be 2-D, got shape {matrix.shape}", field="features")
    if np.isinf(matrix).any():
        raise DataError("features hold infinite values", field="features")
    return matrix, names


def _as_labels(y: object, n_rows: int) -> np.ndarray:
    labels = np.asarray(y, dtype=float)
    if labels.shape != (n_rows,):
        raise DataError(f"expected {n_rows} labels, got shape {labels.shape}", field="y")
    if not np.isin(labels, (0.0, 1.0)).all():
        raise DataError("labels must be 0 or 1 (no NaN)", field="y")
    if labels.min() == labels.max():
        raise DataError("training labels hold a single class", field="y")
    return labels.astype(int)


class _Baseline(ABC):
    """Shared fit/predict plumbing; subclasses build the scikit-learn estimator."""

    def __init__(self, seed: int = 0, n_threads: int | None = None) -> None:
        self.seed = seed
        # OpenMP threads beyond the free cores make boosting many times slower on a
        # shared machine; None leaves the library default (all cores).
        self.n_threads = n_threads
        self.model_: Pipeline | HistGradientBoostingClassifier | None = None
        self.columns_: list[str] | None = None

    @abstractmethod
    def _build(self) -> Pipeline | HistGradientBoostingClassifier:
        """The unfitted estimator."""

    def fit(self, features: pd.DataFrame | np.ndarray, y: object) -> _Baseline:
        """Fit on a feature frame (or matrix) and 0/1 labels; returns ``self``."""
        matrix, self.columns_ = _as_matrix(features, None)
        with threadpool_limits(limits=self.n_threads):
            self.model_ = self._build().fit(matrix, _as_labels(y, len(matrix)))
        return self

    def predict_proba(self, features: pd.DataFrame | np.ndarray) -> np.ndarray:
        """``P(y = 1)`` per row, shape ``(n_rows,)``."""
        if self.model_ is None:
            raise ConfigError(f"{type(self).__name__} is not fitted; call fit() first")
        matrix, _ = _as_matrix(features, self.columns_)
        with threadpool_limits(limits=self.n_threads):
            return self.model_.predict_proba(matrix)[:, 1]


class GBMBaseline(_Baseline):
    """Histogram gradient boosting with native missing-value handling and early stopping."""

    def __init__(self, *, learning_rate: float = 0.05, max_iter: int = 500,
                 max_leaf_nodes: int = 15, min_samples_leaf: int = 20,
                 l2_regularization: float = 1.0, validation_fraction: float = 0.15,
                 n_iter_no_change: int = 30, seed: int = 0,
                 n_threads: int | None = None) -> None:
        super().__init__(seed, n_threads)
        if not 0.0 < validation_fraction < 1.0:
            raise ConfigError(f"validation_fraction must lie in (0, 1), got {validation_fraction}")
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change

    def _build(self) -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(
            learning_rate=self.learning_rate, max_iter=self.max_iter,
            max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization, early_stopping=True,
            validation_fraction=self.validation_fraction,
            n_iter_no_change=self.n_iter_no_change, scoring="loss", random_state=self.seed,
        )


class LogisticBaseline(_Baseline):
    """Median imputation + missingness indicators + standardization + L2 logistic regression."""

    def __init__(self, *, C: float = 0.1, max_iter: int = 5000, seed: int = 0,
                 n_threads: int | None = None) -> None:
        super().__init__(seed, n_threads)
        if C <= 0:
            raise ConfigError(f"C (inverse L2 strength) must be positive, got {C}")
        self.C = C
        self.max_iter = max_iter

    def _build(self) -> Pipeline:
        # keep_empty_features: a variable never measured in training becomes a constant
        # column instead of vanishing, so the fitted width never depends on the data.
        return make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            StandardScaler(),
            LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.seed),
        )


BASELINES: dict[str, type[_Baseline]] = {"gbm": GBMBaseline, "logistic": LogisticBaseline}


def fit_predict_baseline(name: str, train_features: pd.DataFrame | np.ndarray, y_train: object,
                         test_features: pd.DataFrame | np.ndarray, *,
                         seed: int = 0, n_threads: int | None = None) -> np.ndarray:
    """Fit the baseline ``name`` (``"gbm"`` or ``"logistic"``) with default settings and
    return its test-set probabilities."""
    if name not in BASELINES:
        raise ConfigError(f"unknown baseline {name!r}; choose from {sorted(BASELINES)}")
    model = BASELINES[name](seed=seed, n_threads=n_threads)
    return model.fit(train_features, y_train).predict_proba(test_features)
