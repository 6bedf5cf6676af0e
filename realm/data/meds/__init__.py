"""MEDS (the Medical Event Data Standard): realm cohorts out to MEDS datasets and back.

:func:`export_meds` writes a cohort folder as a MEDS dataset; :func:`read_meds` reads a
MEDS dataset into a cohort through a code mapping (:func:`load_mapping`). The ``meds``
package (``pip install realm[meds]``) supplies the schemas both sides validate against.
"""

from realm.data.meds.export import export_meds
from realm.data.meds.mapping import MedsMapping, load_mapping
from realm.data.meds.reader import read_meds

__all__ = ["export_meds", "read_meds", "load_mapping", "MedsMapping"]
