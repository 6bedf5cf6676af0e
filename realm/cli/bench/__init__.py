"""``realm bench NAME``: one module per benchmark, each with ``register(parser)``.

A module here only parses the few options a run needs (data paths, output, seeds, which models,
``--config``), reads the benchmark's typed config from YAML (realm.config.load_config; tuned
values live in ``configs/bench/``) and calls the benchmark's ``run(cfg)`` in realm.bench.
"""
