"""Benchmark: stream a large synthetic MIMIC-III CHARTEVENTS through ``read_mimic``.

Generates a MIMIC-III v1.4-format folder whose CHARTEVENTS.csv.gz has ``rows`` rows
(DuckDB ``COPY ... TO`` straight from ``range()``, so generation is fast and needs no
memory), then runs ``read_mimic`` in a subprocess and reports its wall time, rows/s and
peak resident memory (psutil polling of the process tree, and ru_maxrss). The bar: peak
RSS under 3 GB whatever the row count.

The table is shaped like the real one: one stay per 5,400 rows (330 M rows / 61 k stays),
about 35 % of rows carry a mapped itemid, charttimes spread over 96-hour stays, so about
half of those fall inside the 48-hour window.

    nice realm bench chartevents-stream --rows 2000000 --out bench-2m.json

Generation of 50 M rows takes about half an hour on a loaded 2-core box; ``keep`` keeps
the folder and ``root`` measures an existing one again without regenerating it.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import psutil

from realm.errors import DataError

__all__ = ["ChartEventsStreamConfig", "run", "format_table", "generate", "measure"]

ROWS_PER_STAY = 5_400
# Mapped itemids (HR, NI BP, RR, SpO2, temp F, GCS eye text) and unmapped ones.
MAPPED = "[220045, 220179, 220210, 220277, 223761, 220739]"
UNMAPPED = "[227969, 220048, 224650, 227288, 228096, 224082, 224084, 224086, 226253, 227944, 224093]"
BASE = "TIMESTAMP '2150-01-01 00:00:00'"
#: The bar: peak resident memory of the reader, whatever the row count.
BAR_PEAK_RSS_MB = 3072


@dataclass(frozen=True)
class ChartEventsStreamConfig:
    """What ``realm bench chartevents-stream`` measures.

    Args:
        rows: CHARTEVENTS rows.
        out: JSON result.
        workdir: where to write the generated folder (default: the system's temp folder).
        memory_limit: read_mimic memory_limit.
        keep: keep the generated folder.
        root: measure this already generated folder (of ``rows`` rows) instead.
    """

    rows: int = 50_000_000
    out: Path = Path("chartevents_stream.json")
    workdir: Path | None = None
    memory_limit: str = "2GB"
    keep: bool = False
    root: Path | None = None

CHILD = """
import json, sys, time
from pathlib import Path
from realm.data.readers.mimic import read_mimic
t = time.perf_counter()
c = read_mimic(Path(sys.argv[1]), "mimic3", progress=False, memory_limit=sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - t, "stays": len(c.stays),
                  "events": len(c.events), "notes": len(c.notes)}))
"""


def _copy(con: duckdb.DuckDBPyConnection, select: str, path: Path) -> None:
    con.execute(f"COPY ({select}) TO '{path}' (HEADER, DELIMITER ',', COMPRESSION gzip)")


def generate(root: Path, rows: int) -> int:
    """Write the synthetic MIMIC-III folder; returns the number of ICU stays."""
    root.mkdir(parents=True, exist_ok=True)
    stays = max(10, rows // ROWS_PER_STAY)
    con = duckdb.connect(config={"memory_limit": "1GB", "preserve_insertion_order": False})
    intime = f"{BASE} + to_hours(CAST(i * 100 AS BIGINT))"
    _copy(con, f"""SELECT i AS ROW_ID, i AS SUBJECT_ID, CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END AS GENDER,
                   {BASE} - INTERVAL 60 YEAR AS DOB, NULL AS DOD, NULL AS DOD_HOSP, NULL AS DOD_SSN,
                   0 AS EXPIRE_FLAG FROM range({stays}) t(i)""", root / "PATIENTS.csv.gz")
    _copy(con, f"""SELECT i AS ROW_ID, i AS SUBJECT_ID, i AS HADM_ID, {intime} AS ADMITTIME,
                   {intime} + INTERVAL 120 HOUR AS DISCHTIME,
                   CASE WHEN i % 10 = 0 THEN {intime} + INTERVAL 120 HOUR END AS DEATHTIME,
                   'EMERGENCY' AS ADMISSION_TYPE, '' AS ADMISSION_LOCATION, '' AS DISCHARGE_LOCATION,
                   'Medicare' AS INSURANCE, '' AS LANGUAGE, '' AS RELIGION, '' AS MARITAL_STATUS,
                   'WHITE' AS ETHNICITY, NULL AS EDREGTIME, NULL AS EDOUTTIME, 'SEPSIS' AS DIAGNOSIS,
                   CASE WHEN i % 10 = 0 THEN 1 ELSE 0 END AS HOSPITAL_EXPIRE_FLAG,
                   1 AS HAS_CHARTEVENTS_DATA FROM range({stays}) t(i)""", root / "ADMISSIONS.csv.gz")
    _copy(con, f"""SELECT i AS ROW_ID, i AS SUBJECT_ID, i AS HADM_ID, i AS ICUSTAY_ID,
                   'metavision' AS DBSOURCE, 'MICU' AS FIRST_CAREUNIT, 'MICU' AS LAST_CAREUNIT,
                   12 AS FIRST_WARDID, 12 AS LAST_WARDID, {intime} AS INTIME,
                   {intime} + INTERVAL 96 HOUR AS OUTTIME, 4.0 AS LOS FROM range({stays}) t(i)""",
          root / "ICUSTAYS.csv.gz")
    # Row i belongs to stay i % stays; minutes since INTIME spread over 96 h by a hash.
    _copy(con, f"""
        SELECT i AS ROW_ID, s AS SUBJECT_ID, s AS HADM_ID, s AS ICUSTAY_ID, item AS ITEMID,
               {BASE} + to_hours(CAST(s * 100 AS BIGINT)) + to_minutes(CAST(m AS BIGINT)) AS CHARTTIME,
               NULL AS STORETIME, 17 AS CGID,
               CASE WHEN item = 220739 THEN '4 Spontaneously' ELSE CAST(v AS VARCHAR) END AS VALUE,
               CASE WHEN item = 220739 THEN NULL ELSE v END AS VALUENUM,
               'unit' AS VALUEUOM, 0 AS WARNING, 0 AS ERROR, NULL AS RESULTSTATUS, NULL AS STOPPED
        FROM (SELECT i, i % {stays} AS s, CAST(hash(i) % 5760 AS BIGINT) AS m,
                     CASE WHEN hash(i * 31) % 100 < 35 THEN {MAPPED}[CAST(1 + hash(i * 7) % 6 AS BIGINT)]
                          ELSE {UNMAPPED}[CAST(1 + hash(i * 7) % 11 AS BIGINT)] END AS item,
                     CAST(60 + hash(i * 13) % 40 AS DOUBLE) AS v
              FROM range({rows}) t(i))""", root / "CHARTEVENTS.csv.gz")
    _copy(con, f"""SELECT i AS ROW_ID, i % {stays} AS SUBJECT_ID, i % {stays} AS HADM_ID,
                   CASE WHEN i % 2 = 0 THEN 50971 ELSE 51221 END AS ITEMID,
                   {BASE} + to_hours(CAST((i % {stays}) * 100 + i % 90 AS BIGINT)) AS CHARTTIME,
                   '4.1' AS VALUE, 4.1 AS VALUENUM, 'mEq/L' AS VALUEUOM, NULL AS FLAG
                   FROM range({max(10, rows // 50)}) t(i)""", root / "LABEVENTS.csv.gz")
    _copy(con, f"""SELECT i AS ROW_ID, i % {stays} AS SUBJECT_ID, i % {stays} AS HADM_ID,
                   CAST({BASE} + to_hours(CAST((i % {stays}) * 100 AS BIGINT)) AS DATE) AS CHARTDATE,
                   {BASE} + to_hours(CAST((i % {stays}) * 100 + i % 90 AS BIGINT)) AS CHARTTIME,
                   NULL AS STORETIME,
                   CASE WHEN i % 9 = 0 THEN 'Discharge summary' ELSE 'Nursing/other' END AS CATEGORY,
                   'note' AS DESCRIPTION, NULL AS CGID, NULL AS ISERROR,
                   'Synthetic note ' || i || ', stable overnight.' AS TEXT
                   FROM range({stays * 6}) t(i)""", root / "NOTEEVENTS.csv.gz")
    _copy(con, "SELECT 1 AS ROW_ID, 220045 AS ITEMID, 'Heart Rate' AS LABEL, 'HR' AS ABBREVIATION, "
               "'metavision' AS DBSOURCE, 'chartevents' AS LINKSTO, '' AS CATEGORY, '' AS UNITNAME, "
               "'' AS PARAM_TYPE, NULL AS CONCEPTID", root / "D_ITEMS.csv.gz")
    _copy(con, "SELECT 1 AS ROW_ID, 50971 AS ITEMID, 'Potassium' AS LABEL, 'Blood' AS FLUID, "
               "'Chemistry' AS CATEGORY, '' AS LOINC_CODE", root / "D_LABITEMS.csv.gz")
    con.close()
    return stays


def measure(root: Path, memory_limit: str) -> dict:
    """Run read_mimic in a child process; poll its RSS (with children) every 50 ms."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(root), memory_limit],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            rss = ps.memory_info().rss + sum(c.memory_info().rss for c in ps.children(recursive=True))
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.05)
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise DataError(f"read_mimic failed in the child process (exit {proc.returncode}): {err[-3000:]}")
    maxrss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return {"wall_s": wall, "peak_rss_polled_mb": peak / 2**20, "ru_maxrss_mb": maxrss_kb / 1024,
            **json.loads(out.strip().splitlines()[-1])}


def run(cfg: ChartEventsStreamConfig) -> dict[str, Any]:
    """Generate (or reuse) the folder, read it in a subprocess; returns the report written to ``cfg.out``."""
    if cfg.root is not None:
        work, root, gen_s = None, cfg.root, None
        stays = max(10, cfg.rows // ROWS_PER_STAY)
        if not (root / "CHARTEVENTS.csv.gz").is_file():
            raise DataError("no CHARTEVENTS.csv.gz", path=root)
    else:
        work = Path(tempfile.mkdtemp(prefix="realm-chartevents-", dir=cfg.workdir))
        root = work / "mimic3"
        t = time.perf_counter()
        stays = generate(root, cfg.rows)
        gen_s = time.perf_counter() - t
    load_before = os.getloadavg()
    result = measure(root, cfg.memory_limit)
    load_after = os.getloadavg()
    size = (root / "CHARTEVENTS.csv.gz").stat().st_size
    report = {
        "rows": cfg.rows, "stays": stays, "chartevents_gz_mb": size / 2**20, "generate_s": gen_s,
        "rows_per_s": cfg.rows / result["wall_s"], "memory_limit": cfg.memory_limit,
        "bar_peak_rss_mb": BAR_PEAK_RSS_MB,
        "passed": max(result["peak_rss_polled_mb"], result["ru_maxrss_mb"]) < BAR_PEAK_RSS_MB,
        "load_avg_1_5_15": {"before": load_before, "after": load_after},
        "machine": {"cpus": psutil.cpu_count(), "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
                    "python": platform.python_version(), "duckdb": duckdb.__version__,
                    "platform": platform.platform()},
        **result,
    }
    cfg.out.write_text(json.dumps(report, indent=2))
    if work is not None and not cfg.keep:
        shutil.rmtree(work)
    return report


def format_table(report: dict[str, Any]) -> str:
    """Rows, stays, events, wall time, rows/s and peak RSS in one row."""
    peak = max(report["peak_rss_polled_mb"], report["ru_maxrss_mb"])
    return (f"{'rows':>12} {'stays':>7} {'events':>10} {'wall s':>8} {'rows/s':>12} {'peak RSS MB':>12}\n"
            f"{report['rows']:>12,} {report['stays']:>7,} {report['events']:>10,} {report['wall_s']:>8.1f} "
            f"{report['rows_per_s']:>12,.0f} {peak:>12,.0f}")
