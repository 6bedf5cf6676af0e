"""Run the realm CLI in a child process, stop it at a chosen point, and ``kill -9`` it there.

The child patches one function (``module:attribute``, a method as ``module:Class.method``) so
that its ``count``-th call whose arguments mention ``pattern`` first does its work, then
touches a marker file and sleeps: the test waits for the marker (the run's progress is on disk
at that moment: a temporary file, a committed batch) and kills the child without warning.
Without the pause a small run would often finish before the kill lands.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from realm.data.cohort import Cohort
from tests.kg_fixtures import EDGES, NODES, write_csv_kg

REPO = Path(__file__).resolve().parents[1]

_CHILD = """
import importlib, sys, time
target, pattern, count, marker = sys.argv[1:5]
module, _, name = target.partition(":")
owner = importlib.import_module(module)
*path, attr = name.split(".")
for part in path:
    owner = getattr(owner, part)
original = getattr(owner, attr)
seen = []

def paused(*args, **kwargs):
    result = original(*args, **kwargs)
    if pattern in repr(args) + repr(kwargs):
        seen.append(1)
        if len(seen) == int(count):
            open(marker, "w").close()
            time.sleep(3600)
    return result

setattr(owner, attr, paused)
from realm.cli import main
sys.exit(main(sys.argv[5:]))
"""


def child_env(cache: Path) -> dict[str, str]:
    """The test's environment with ``cache`` as REALM_CACHE and this checkout importable."""
    env = {**os.environ, "REALM_CACHE": str(cache)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


def run_cli(argv: list[str], cache: Path, timeout: float = 900) -> str:
    """``realm ARGV`` in a child process; fails the test unless it ends rc 0; its stdout."""
    done = subprocess.run([sys.executable, "-m", "realm.cli", *argv], env=child_env(cache), cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"realm {argv[0]} ended rc {done.returncode}: {done.stderr[-3000:]}"
    return done.stdout


def start_cli(argv: list[str], cache: Path) -> subprocess.Popen[str]:
    """``realm ARGV`` started in a child process (not waited for)."""
    return subprocess.Popen([sys.executable, "-m", "realm.cli", *argv], env=child_env(cache), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill_mid_run(argv: list[str], cache: Path, pause_at: str, marker: Path, *, pattern: str = "",
                 count: int = 1, timeout: float = 600) -> None:
    """Run ``realm ARGV`` until the pause point is reached, then SIGKILL it."""
    with open(marker.with_suffix(".log"), "w") as log:
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, pause_at, pattern, str(count), str(marker), *argv],
                                env=child_env(cache), cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not marker.exists():
            if proc.poll() is not None:
                raise AssertionError(f"the run ended (rc {proc.returncode}) before {pause_at}: "
                                     + marker.with_suffix(".log").read_text()[-3000:])
            if time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"{pause_at} not reached in {timeout:.0f} s")
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL


def stale_temps(*folders: Path) -> list[str]:
    """Temporary files and folders (``.<name>.<pid>.*.tmp``) left anywhere below ``folders``."""
    return sorted(str(p) for f in folders if f.exists() for p in f.rglob(".*.tmp"))


#: The shared tiny KG and three more diseases and phenotypes named in lay words.
CRASH_NODES = NODES + """T:hypox,Hypoxemia,phenotype,low oxygen,,tiny,
T:chf,Heart failure,disease,CHF;congestive heart failure,,tiny,
T:mi,Myocardial infarction,disease,heart attack,,tiny,
"""
TEXTS = ("Admitted with sepsis on levophed. No pneumonia.", "Sepsis improving, low oxygen overnight.",
         "Creatinine rising, concern for acute renal failure.", "History of heart attack and CHF.",
         "Congestive heart failure exacerbation, high potassium.")


def tiny_kg(folder: Path) -> Path:
    """A KG spec YAML over a small CSV KG."""
    return write_csv_kg(folder, CRASH_NODES, EDGES)


def tiny_cohort(folder: Path, n_stays: int = 6) -> Path:
    """A saved cohort of ``n_stays`` stays with one note each (texts cycled)."""
    stays = list(range(1, n_stays + 1))
    cohort = Cohort(
        stays=pd.DataFrame({"stay_id": stays, "subject_id": [10 * s for s in stays], "source": ["test"] * n_stays}),
        events=pd.DataFrame({"stay_id": stays, "hours": [4.0] * n_stays, "variable": ["potassium"] * n_stays,
                             "value": [5.9 if s % 2 else 4.1 for s in stays]}),
        notes=pd.DataFrame({"note_id": [f"n{s}" for s in stays], "stay_id": stays, "hours": [2.0] * n_stays,
                            "category": ["nursing"] * n_stays,
                            "text": [f"{TEXTS[s % len(TEXTS)]} Day {s}." for s in stays]}),
        labels=pd.DataFrame({"stay_id": stays, "mortality": [s % 2 for s in stays]}),
        meta={"window_hours": 48},
    )
    return cohort.save(folder)
