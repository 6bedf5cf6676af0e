"""Cohorts: readers for each source, labels, splits, the discretizer and the DataModule."""

from realm.data.cohort import TASKS, Cohort
from realm.data.quality import QualityReport

__all__ = ["Cohort", "QualityReport", "TASKS"]
