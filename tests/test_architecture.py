"""Data flows one way: data → extract → kg → models → eval. A stage imports only from the
stages before it (and small shared modules); wiring lives in cli, commands, bench and demo."""

from __future__ import annotations

import re
from pathlib import Path

STAGES = {"data": 0, "extract": 1, "kg": 2, "models": 3, "eval": 4}
WIRING = {"cli", "commands", "bench", "demo", "demo_models"}
PACKAGE = Path(__file__).resolve().parents[1] / "realm"
IMPORT = re.compile(r"^\s*(?:from|import)\s+realm\.(\w+)")


def test_stages_import_only_earlier_stages() -> None:
    offences = []
    for path in sorted(PACKAGE.rglob("*.py")):
        stage = path.relative_to(PACKAGE).parts[0]
        if stage not in STAGES:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = IMPORT.match(line)
            if not match:
                continue
            target = match.group(1)
            if target in WIRING or STAGES.get(target, -1) > STAGES[stage]:
                offences.append(f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}")
    assert not offences, "imports against the data flow:\n" + "\n".join(offences)
