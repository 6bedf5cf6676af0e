"""Every shipped LightningCLI YAML in configs/ runs through the real CLI on a tiny cohort, and
every bench and demo config loads into its typed settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from realm.cli import main
from realm.data.cohort import Cohort
from realm.extract.mentions_table import conform_mentions
from realm.kg.graph import KnowledgeGraph
from realm.records import Node

ROOT = Path(__file__).resolve().parents[2] / "configs"
#: Stand-alone LightningCLI configs (a top-level YAML with a model; demo.yaml is the demo's).
CONFIGS = sorted(p for p in ROOT.glob("*.yaml") if "model" in yaml.safe_load(p.read_text()))
#: The benches' and the demo's models, each run with its data config, as the bench runs it.
MODEL_SETS = {
    "synthetic-realm": ("bench/synthetic/data.yaml", "bench/synthetic/realm.yaml"),
    "synthetic-timeseries": ("bench/synthetic/data.yaml", "bench/synthetic/timeseries.yaml"),
    "physionet2012-realm": ("bench/physionet2012/data.yaml", "bench/physionet2012/realm.yaml"),
    "physionet2012-gru": ("bench/physionet2012/data.yaml", "bench/physionet2012/gru.yaml"),
    "physionet2012-transformer": ("bench/physionet2012/data.yaml", "bench/physionet2012/transformer.yaml"),
    "demo-realm": ("demo/realm.yaml",),
    "demo-gru": ("demo/gru.yaml",),
}
#: Overlays on the bench's REALM, run as `--config data.yaml --config realm.yaml --config ABLATION`.
ABLATIONS = sorted((ROOT / "ablations").glob("*.yaml"))


def _tiny_cohort(directory: Path, n: int = 20) -> Path:
    """n stays with heart rate, sodium and GCS eye; mortality follows heart rate."""
    rng = np.random.default_rng(0)
    ids = np.arange(n) + 1
    split = np.array(["train", "train", "val", "test"] * (n // 4))
    stays = pd.DataFrame({
        "stay_id": ids, "subject_id": ids, "source": "test", "split": split,
        "age": rng.uniform(20, 90, n), "sex": rng.choice(["F", "M"], n), "icu_type": "MICU",
        "height": 170.0, "weight": 80.0, "los_hours": 60.0,
        # PhysioNet's auxiliary targets (configs/bench/physionet2012/data.yaml)
        "saps1": rng.integers(5, 25, n).astype(float), "sofa": rng.integers(0, 12, n).astype(float),
    })
    i = np.arange(n)
    dead = (i % 4 + i // 4) % 2  # both classes in every split
    rows = [(sid, float(h), "heart_rate", 70 + 40 * dead[i] + rng.normal(0, 5))
            for i, sid in enumerate(ids) for h in range(0, 48, 6)]
    rows += [(sid, 2.0, "sodium", 140.0) for sid in ids] + [(sid, 3.0, "gcs_eye", 4.0) for sid in ids]
    labels = pd.DataFrame({"stay_id": ids, "mortality": pd.array(dead, dtype="Int8"),
                           "readmission_30d": pd.array(1 - dead, dtype="Int8")})
    # notes for every other stay: the notes modality sees stays with and without notes
    notes = pd.DataFrame({"note_id": [f"n{s}" for s in ids[::2]], "stay_id": ids[::2], "hours": 5.0,
                          "category": "Nursing", "text": "Tachycardic overnight, no hyperkalemia."})
    Cohort(stays=stays, events=pd.DataFrame(rows, columns=["stay_id", "hours", "variable", "value"]),
           notes=notes, labels=labels, meta={"source": "test", "window_hours": 48.0}).save(directory)
    # linked entities for the REALM configs: every stay has a present and a negated one
    mentions = pd.DataFrame({"stay_id": np.repeat(ids, 2), "node_id": ["HP:0001649", "HP:0002153"] * n,
                             "type": "phenotype", "assertion": ["present", "negated"] * n, "hours": 1.0,
                             "link_score": 1.0, "note_id": "n", "text": "x", "spans": "[[0, 1]]"})
    conform_mentions(mentions).to_parquet(directory / "mentions.parquet")
    return directory


@pytest.fixture(autouse=True)
def _tiny_kg(monkeypatch: pytest.MonkeyPatch) -> None:
    """The REALM configs name the default KG; a two-node stand-in keeps the test fast."""
    kg = KnowledgeGraph.from_nodes_edges(
        [Node("HP:0001649", "Tachycardia", "phenotype"), Node("HP:0002153", "Hyperkalemia", "phenotype")], [])
    monkeypatch.setattr("realm.features.entities.load_kg", lambda spec, progress=False: kg)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _tiny_cohort(tmp_path_factory.mktemp("cli") / "cohort")


def test_configs_are_shipped() -> None:
    names = {p.name for p in CONFIGS}
    assert {"physionet2012.yaml", "synthetic.yaml"} <= names


# One config stays in the quick run (`-m "not slow"`); CI runs them all.
@pytest.mark.parametrize("config", [pytest.param(p, id=p.stem, marks=() if p.stem == "synthetic" else pytest.mark.slow)
                                    for p in CONFIGS])
def test_config_runs_fast_dev_run(config: Path, tiny: Path, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # runs/ of the default trainer settings lands here
    code = main(["fit", "--config", str(config), "--trainer.fast_dev_run=true",
                 "--data.init_args.cohort_dir", str(tiny)])
    assert code == 0


@pytest.mark.slow
@pytest.mark.parametrize("names", MODEL_SETS.values(), ids=list(MODEL_SETS))
def test_model_configs_run_fast_dev_run(names: tuple[str, ...], tiny: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    configs = [a for name in names for a in ("--config", str(ROOT / name))]
    code = main(["fit", *configs, "--trainer.fast_dev_run=true", "--data.init_args.cohort_dir", str(tiny)])
    assert code == 0


@pytest.mark.slow
@pytest.mark.parametrize("ablation", ABLATIONS, ids=[p.stem for p in ABLATIONS])
def test_ablation_runs_fast_dev_run(ablation: Path, tiny: Path, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    configs = [a for name in MODEL_SETS["synthetic-realm"] for a in ("--config", str(ROOT / name))]
    code = main(["fit", *configs, "--config", str(ablation), "--trainer.fast_dev_run=true",
                 "--data.init_args.cohort_dir", str(tiny)])
    assert code == 0


def test_bench_and_demo_settings_load() -> None:
    from realm.bench.physionet2012 import PhysioNetBenchConfig
    from realm.bench.synthetic import SyntheticBenchConfig
    from realm.config import load_config
    from realm.pipeline.demo import DemoConfig

    synthetic = load_config(SyntheticBenchConfig, "bench/synthetic.yaml", out=Path("s.json"))
    physionet = load_config(PhysioNetBenchConfig, "bench/physionet2012.yaml", out=Path("p.json"),
                            data=Path("d"))
    demo = load_config(DemoConfig, "demo.yaml")
    # every model config a setting names is a shipped file
    named = [*synthetic.data, *synthetic.realm, *synthetic.timeseries, *physionet.datamodule,
             *physionet.realm, *physionet.gru, *physionet.transformer, *demo.realm, *demo.gru]
    assert all((ROOT / name).is_file() for name in named)
    assert {n for names in MODEL_SETS.values() for n in names} == set(named)


def test_realm_sizes_are_linked_from_the_data(tiny: Path) -> None:
    """node_dim, the summary factors and the aux targets come from the providers, never YAML."""
    from realm.pipeline.train import build_cli

    for names, expect in ((MODEL_SETS["synthetic-realm"], (128, 1, 0)),
                          (MODEL_SETS["physionet2012-realm"], (64, 0, 3))):
        configs = [a for name in names for a in ("--config", str(ROOT / name))]
        cli = build_cli([*configs, "--data.init_args.cohort_dir", str(tiny), "--trainer.logger=false"], run=False)
        hp = cli.model.hparams
        assert (hp["node_dim"], hp["summary_factors"], hp["n_aux_targets"]) == expect
        for name in names:
            text = (ROOT / name).read_text()
            assert "summary_factors" not in text and "n_aux_targets" not in text


def test_print_config_shows_overrides(tiny: Path, capsys: pytest.CaptureFixture) -> None:
    config = CONFIGS[0]
    with pytest.raises(SystemExit) as exit_:
        main(["fit", "--config", str(config), "--data.init_args.cohort_dir", str(tiny),
              "--data.init_args.batch_size", "7", "--print_config"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert f"cohort_dir: {tiny}" in out and "batch_size: 7" in out
    assert "class_path: realm.models.TimeSeriesModel" in out


def test_fit_writes_metrics_and_checkpoint(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    synthetic = next(p for p in CONFIGS if p.name == "synthetic.yaml")
    main(["fit", "--config", str(synthetic), "--data.init_args.cohort_dir", str(tiny),
          "--trainer.max_epochs", "2", "--trainer.enable_progress_bar", "false"])
    (run,) = tmp_path.glob("runs/*/*/metrics.csv")  # runs/<model>/<start time>, not version_N
    assert not run.parent.name.startswith("version_")
    metrics = pd.read_csv(run)
    for column in ("train/loss_epoch", "val/loss", "val/mortality_auroc",
                   "val/readmission_30d_auprc"):
        assert column in metrics.columns
    assert metrics["val/mortality_auroc"].dropna().between(0, 1).all()
    assert "train/loss_step" in metrics.columns  # logged although an epoch is shorter than 10 steps
    (checkpoint,) = run.parent.glob("checkpoints/best-*.ckpt")

    # `realm predict` from the checkpoint (its hyperparameters re-parsed) writes and says where
    capsys.readouterr()
    main(["predict", "--config", str(synthetic), "--data.init_args.cohort_dir", str(tiny),
          "--trainer.enable_progress_bar", "false", "--ckpt_path", str(checkpoint)])
    printed = capsys.readouterr().out.strip().splitlines()
    (realm_file,) = [Path(p.split(": ", 1)[1]) for p in printed if p.startswith("predictions: ")]
    meds_files = [Path(p.split(": ", 1)[1]) for p in printed if p.startswith("MEDS predictions: ")]
    assert realm_file.is_file()
    # and beside it the same predictions in the MEDS prediction schema, one file per task
    assert sorted(p.stem for p in meds_files) == ["mortality", "readmission_30d"]
    assert all(p.is_file() and p.parents[1] == realm_file.parent / "meds_predictions"
               for p in meds_files)
