"""realm: knowledge-grounded, multimodal clinical prediction from electronic health records.

Stages, data flowing one way: ``realm.data`` (cohorts, readers, discretizer, DataModule)
→ ``realm.extract`` (mentions from notes and time series) → ``realm.kg`` (graph, index,
linker, embeddings) → ``realm.models`` (fusion network, baselines) → ``realm.eval``
(metrics, CIs, calibration, explanations, report). ``realm.cli`` wires them.
"""

__version__ = "0.1.0"
