"""Data flows one way. Every sub-package of realm has a rank; a stage imports only from stages of
a lower rank (and the small shared modules); stages of one rank never import each other (the
KG does not read the extractors, nor they the KG). Wiring — the CLI, the pipeline, the demo and
the benchmarks — sits above every stage, and no stage imports it."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "realm"
IMPORT = re.compile(r"^\s*(?:from|import)\s+realm\.(\w+)")
IMPORT_CLI = re.compile(r"^\s*(?:from|import)\s+realm\.cli\b")

#: Modules every layer may use.
SHARED = {"errors", "records", "cache", "resources", "config"}
#: The stages, lowest first.
STAGES = {"llm": 0, "data": 1, "extract": 2, "kg": 2, "harmonize": 3, "features": 4,
          "models": 5, "eval": 6}
#: Layers that join stages: they may import any stage, no stage imports them.
WIRING = {"pipeline", "bench", "cli"}


def _layer(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else path.stem


def test_every_module_has_a_layer() -> None:
    unknown = sorted({_layer(p) for p in PACKAGE.rglob("*.py")} - SHARED - set(STAGES) - WIRING
                     - {"__init__"})
    assert not unknown, f"sub-packages or modules without a layer in this test: {unknown}"


def test_stages_import_only_earlier_stages() -> None:
    offences = []
    for path in sorted(PACKAGE.rglob("*.py")):
        layer = _layer(path)
        if layer in WIRING or layer == "__init__":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = IMPORT.match(line)
            if not match or match.group(1) == layer:
                continue
            target = match.group(1)
            if layer in SHARED:
                allowed = target in SHARED and target != layer
            else:
                allowed = target in SHARED or STAGES.get(target, 99) < STAGES[layer]
            if not allowed:
                offences.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert not offences, "imports against the data flow:\n" + "\n".join(offences)


def test_benchmark_code_stays_out_of_the_stages() -> None:
    """BioCreative VIII's code lives under realm/bench/bc8, not in the extractors or the KG."""
    stray = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                   if "bc8" in p.name and _layer(p) not in WIRING)
    assert not stray, f"benchmark-specific modules inside a stage: {stray}"


def test_only_the_cli_parses_command_lines() -> None:
    """Stages, the pipeline and the benchmarks take typed configs: argparse (and its Namespace)
    lives in realm/cli alone, and nothing imports the CLI."""
    offences = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if _layer(path) == "cli":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.match(r"^\s*(import argparse|from argparse )", line) or IMPORT_CLI.match(line):
                offences.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert not offences, "command-line parsing outside realm/cli:\n" + "\n".join(offences)


def test_one_place_builds_a_trainer() -> None:
    """Every model trains through realm.pipeline.train (LightningCLI)."""
    builders = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                      if re.search(r"\bTrainer\(", p.read_text()))
    assert builders == [], f"hand-built Lightning trainers: {builders}"


def test_scoring_predictions_does_not_import_lightning() -> None:
    """``realm evaluate`` and a warm demo read, score and report prediction tables; importing
    Lightning for that costs them seconds (only the callback that writes them needs it)."""
    import subprocess
    import sys

    code = ("import sys, realm.eval.run, realm.eval.report, realm.eval.predictions, "
            "realm.eval.meds_predictions, realm.config, realm.pipeline.hospital; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('pytorch_lightning', 'lightning', 'lightning_fabric', 'simple_icd_10_cm')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout[:300]


def test_training_needs_no_optional_extra() -> None:
    """The README's first command installs no extra: training, predicting and the demo must
    import without the MEDS tools (polars, meds), which only their own modules load."""
    import subprocess
    import sys

    code = ("import sys, realm.pipeline.train, realm.pipeline.demo, realm.eval.prediction_writer, "
            "realm.cli.lightning; print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('polars', 'meds', 'meds_evaluation')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout[:300]
