"""Every condition that carries risk in the synthetic hospital must be a node of the default KG.

Otherwise no linker can find the held-out category members, and the synthetic benchmark
(REALM vs the oracle) would measure the KG recipe's size cut instead of the model.
"""

from __future__ import annotations

import pandas as pd

from realm.kg.sources import icd10
from realm.resources import resource_path


def test_risky_synthetic_conditions_fit_the_default_kg_recipe() -> None:
    codes = pd.read_csv(resource_path("synth_condition_codes.csv"))
    risky = codes[codes["role"].isin(["train", "test"])]
    too_long = [
        c for c in risky["concept_id"]
        if len(c.split(":", 1)[1].replace(".", "")) > icd10.MAX_CODE_LENGTH
    ]
    assert not too_long, f"codes the default KG leaves out (longer than {icd10.MAX_CODE_LENGTH}): {too_long}"
    assert set(risky["role"]) == {"train", "test"}
