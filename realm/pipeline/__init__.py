"""The pipeline API: each stage a plain function over typed configs and files.

The CLI, the demo, the benchmarks and the notebooks call these functions; none of them takes
an argparse namespace. A stay goes from raw files to a prediction through::

    cohort, cohort_dir = prepare_cohort("mimic3", root)                    # realm.data
    mentions = extract_mentions(cohort_dir, "default", ExtractConfig())     # notes -> KG nodes
    trained = fit(["configs/bench/synthetic/realm.yaml", {...}])           # LightningCLI
    probs = predict(trained.model, trained.datamodule.test_dataloader())
    record = run_evaluate(predictions_file, out_dir)                        # metrics, report

Names are resolved lazily (PEP 562), so importing one stage does not import the others (the
training stack pulls in torch and Lightning).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["prepare_cohort", "ExtractConfig", "extract_mentions", "fit", "predict", "Trained",
           "run_evaluate", "summary_lines", "tabular_predictions", "oracle_predictions",
           "DemoConfig", "run_demo", "cached_hospital", "cached_mentions"]

_HOMES = {
    "prepare_cohort": "realm.data.prepare",
    "ExtractConfig": "realm.pipeline.extract",
    "extract_mentions": "realm.pipeline.extract",
    "fit": "realm.pipeline.train",
    "predict": "realm.pipeline.train",
    "Trained": "realm.pipeline.train",
    "run_evaluate": "realm.eval.run",
    "summary_lines": "realm.eval.run",
    "tabular_predictions": "realm.pipeline.baselines",
    "oracle_predictions": "realm.pipeline.baselines",
    "DemoConfig": "realm.pipeline.demo",
    "run_demo": "realm.pipeline.demo",
    "cached_hospital": "realm.pipeline.hospital",
    "cached_mentions": "realm.pipeline.hospital",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'realm.pipeline' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)


def __dir__() -> list[str]:
    return sorted(__all__)
