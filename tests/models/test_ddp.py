"""REALM trains under DDP on CPU with 2 processes, through the real CLI (how users scale out)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.models.test_cli_configs import _tiny_cohort

#: The synthetic bench's REALM (wide summary, wide entity term, linear prior) and its data.
CONFIGS = [Path(__file__).resolve().parents[2] / "configs" / "bench" / "synthetic" / name
           for name in ("data.yaml", "realm.yaml")]

# Lightning's DDP launcher starts rank 1 by re-running this script, so the two-node stand-in
# for the default KG is installed in every process, before the CLI runs.
SCRIPT = """
import sys
import realm.features.entities as knowledge
from realm.cli import main
from realm.kg.graph import KnowledgeGraph
from realm.records import Node

kg = KnowledgeGraph.from_nodes_edges(
    [Node("HP:0001649", "Tachycardia", "phenotype"), Node("HP:0002153", "Hyperkalemia", "phenotype")], [])
knowledge.load_kg = lambda spec, progress=False: kg
sys.exit(main(["fit", "--config", sys.argv[1], "--config", sys.argv[2], "--data.init_args.cohort_dir", sys.argv[3],
               "--trainer.strategy=ddp", "--trainer.devices=2", "--trainer.accelerator=cpu",
               "--trainer.max_epochs=2", "--trainer.default_root_dir", sys.argv[4]]))
"""


@pytest.mark.slow
def test_realm_fits_under_ddp_with_two_cpu_processes(tmp_path: Path) -> None:
    cohort = _tiny_cohort(tmp_path / "cohort", n=40)
    script = tmp_path / "fit_ddp.py"
    script.write_text(SCRIPT)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(script), *map(str, CONFIGS), str(cohort), str(tmp_path / "runs")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "world_size: 2" in done.stderr or "distributed_backend=gloo" in done.stderr, done.stderr[-3000:]
    checkpoints = sorted(tmp_path.rglob("*.ckpt"))
    assert checkpoints, "no checkpoint written"
    state = torch.load(checkpoints[-1], map_location="cpu", weights_only=False)
    # the linear prior was fitted (on the whole train split, in both processes) and saved
    assert bool(state["state_dict"]["prior.fitted"]) and state["state_dict"]["prior.weight"].shape[0] == 2
    assert state["realm_kg"]["kg_version"]
