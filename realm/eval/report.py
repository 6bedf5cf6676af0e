"""The self-contained HTML report: one file, figures inline, nothing fetched from anywhere.

:func:`render_report` turns the evaluation record (:func:`realm.eval.evaluation.
evaluate_predictions`), the predictions it was computed from and, optionally, per-stay
explanations into HTML with the Jinja2 template ``templates/report.html.j2``. Figures are
SVG data URIs (:mod:`realm.eval.plots`), styles are inline, there are no scripts.

Note text reaches the report only as the explanation snippets, which
:mod:`realm.eval.explain` already cut to at most 120 characters around a mention.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from realm import __version__
from realm.cache import atomic_path
from realm.eval.evaluation import labelled
from realm.eval.explain import LISTS, SNIPPET_CHARS, Explanations
from realm.eval.plots import (forest_figure, model_colors, pr_figure, reliability_figure,
                              roc_figure)

__all__ = ["render_report", "write_report", "fmt_ci", "legend_labels"]

TEMPLATE = "report.html.j2"
#: Per entity list, a card shows this many rows that raised the risk and as many that lowered it.
ENTITY_ROWS = 5
LIST_TITLES = {"present": "Findings (present)", "negated": "Negated (said to be absent)",
               "other": "Historical, family or hypothetical"}
METRIC_LABELS: dict[str, str] = {
    "auroc": "AUROC", "auprc": "AUPRC", "min_se_ppv": "min(Se,+P)", "brier": "Brier",
    "ece": "ECE", "calibration_slope": "Cal. slope", "calibration_intercept": "Cal. intercept",
}


def _finite(x: object) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(float(x))


def fmt_ci(rec: Mapping[str, Any] | None, digits: int = 3) -> str:
    """``0.812 (0.771-0.850)``; ``n/a`` when undefined."""
    if not rec or not _finite(rec.get("value")):
        return "n/a"
    lo, hi = rec.get("ci95", [float("nan")] * 2)
    ci = f" ({lo:.{digits}f} to {hi:.{digits}f})" if _finite(lo) and _finite(hi) else ""
    return f"{rec['value']:.{digits}f}{ci}"


def fmt_subgroup_ci(row: Mapping[str, Any], metric: str, digits: int = 3) -> str:
    """A subgroup row's metric with its bootstrap bounds (``<metric>_lo``/``_hi``), if any."""
    bounds = [row.get(f"{metric}_lo"), row.get(f"{metric}_hi")]
    return fmt_ci({"value": row.get(metric), "ci95": bounds}, digits)


def _fmt(x: object, digits: int = 3) -> str:
    return f"{x:.{digits}f}" if _finite(x) else "n/a"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("realm.eval", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),  # snippets are data: escape
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["ci"] = fmt_ci
    env.filters["subgroup_ci"] = fmt_subgroup_ci
    env.filters["num"] = _fmt
    env.filters["pct"] = lambda x: f"{100 * x:.0f}%" if _finite(x) else "n/a"
    env.filters["pts"] = lambda x: f"{100 * x:+.1f} pts" if _finite(x) else "n/a"
    return env


#: The summary each curve's legend shows: the area under that same curve.
CURVE_METRICS = {"roc": ("auroc", "AUROC"), "pr": ("auprc", "AUPRC (AP)")}


def legend_labels(models: Mapping[str, Mapping[str, Any]], curve: str) -> dict[str, str]:
    """``model  AUROC 0.81 (0.77 to 0.85)`` for the ROC legend, the AUPRC (average
    precision) for the precision-recall one."""
    key, name = CURVE_METRICS[curve]
    return {m: f"{m}  {name} {fmt_ci(rec['metrics'][key], 2)}" for m, rec in models.items()}


def _task_view(task: str, entry: Mapping[str, Any], rows: pd.DataFrame,
               reference: str, explanations: Explanations | None) -> dict[str, Any]:
    models = entry["models"]
    view: dict[str, Any] = {"task": task, "entry": entry, "figures": {}, "stays": []}
    if not models:
        return view
    curves = {m: (sub["y_true"].to_numpy(), sub["y_prob"].to_numpy())
              for m, sub in ((m, rows[rows["model"] == m]) for m in models)}
    ref = reference if reference in models else next(iter(models))
    points = {m: rec["operating_point"] for m, rec in models.items()}
    view["figures"] = {
        "forest": forest_figure(models, ref),
        "roc": roc_figure(curves, ref, legend_labels(models, "roc"), points),
        "pr": pr_figure(curves, ref, legend_labels(models, "pr"), points),
        "reliability": reliability_figure(curves, ref),
    }
    view["colors"] = model_colors(list(models))
    view["ordered"] = [ref, *[m for m in models if m != ref]]
    if explanations is not None:
        view["stays"] = _stay_cards(task, explanations)
    return view


def _bars(rows: pd.DataFrame, scale: float) -> list[dict[str, Any]]:
    """Rows as dicts with ``bar``: the effect's size relative to ``scale`` (the card's
    largest: entities and hours share one unit, probability)."""
    # snippets are cut again here: the report never shows more than SNIPPET_CHARS
    return [{**r, "bar": 100 * abs(r["effect"]) / max(scale, 1e-9),
             **({"snippet": str(r["snippet"])[:SNIPPET_CHARS]} if "snippet" in r else {})}
            for r in rows.to_dict(orient="records")]


def _shown(rows: pd.DataFrame, n: int) -> pd.DataFrame:
    """The ``n`` rows that raised the risk most, then the ``n`` that lowered it most."""
    rows = rows.sort_values("effect", ascending=False, kind="stable")
    return pd.concat([rows[rows["effect"] > 0].head(n), rows[rows["effect"] <= 0].tail(n)])


def _stay_cards(task: str, ex: Explanations) -> list[dict[str, Any]]:
    cards = []
    stays = ex.stays[ex.stays["task"] == task]
    for _, s in stays.iterrows():
        ents = ex.entities[(ex.entities["task"] == task) & (ex.entities["stay_id"] == s["stay_id"])]
        ts = ex.timeseries[(ex.timeseries["task"] == task)
                           & (ex.timeseries["stay_id"] == s["stay_id"])]
        gate = {k: s[f"gate_{k}"] for k in ("timeseries", "entities", "notes")}
        effects = pd.concat([ents["effect"], ts["effect"]]).abs()
        scale = float(effects.max()) if len(effects) else 0.0
        lists = {name: _bars(_shown(ents[ents["list"] == name], ENTITY_ROWS), scale)
                 for name in LISTS}
        cards.append({
            "stay": s.to_dict(),
            "gate": gate if all(_finite(v) for v in gate.values()) else None,
            "lists": [(name, LIST_TITLES[name], rows) for name, rows in lists.items() if rows],
            "timeseries": _bars(ts.sort_values("rank"), scale),
        })
    return cards


def render_report(record: Mapping[str, Any], predictions: pd.DataFrame, *,
                  explanations: Explanations | None = None, title: str = "realm evaluation",
                  sources: Sequence[str] = (), notes: Sequence[str] = ()) -> str:
    """The report's HTML. ``sources`` name the prediction files; ``notes`` are extra lines
    shown under the title (e.g. how the demo linked entities)."""
    reference = record["reference"]
    tasks = [_task_view(task, entry, labelled(predictions[predictions["task"] == task]),
                        reference, explanations)
             for task, entry in record["tasks"].items()]
    return _environment().get_template(TEMPLATE).render(
        title=title, record=record, tasks=tasks, sources=list(sources), notes=list(notes),
        metric_labels=METRIC_LABELS, version=__version__, snippet_chars=SNIPPET_CHARS,
        generated=_dt.datetime.now().replace(microsecond=0).isoformat(sep=" "),
    )


def write_report(path: str | Path, record: Mapping[str, Any], predictions: pd.DataFrame,
                 **kwargs: Any) -> Path:
    """Render and write the report atomically; returns its path."""
    path = Path(path)
    html = render_report(record, predictions, **kwargs)
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return path
