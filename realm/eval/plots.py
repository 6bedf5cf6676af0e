"""The report's figures, as self-contained SVG data URIs (no files, no external assets).

Each figure is an ``<img src="data:image/svg+xml;base64,...">`` source: vector graphics
that stay sharp when zoomed, and each lives in its own document, so matplotlib's
internal element ids can never collide between figures in one HTML page.

The reference model is drawn thicker and first in every legend; every other model keeps
one colour across all figures.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402

from realm.eval.calibration import reliability_curve  # noqa: E402

__all__ = ["svg_data_uri", "roc_figure", "pr_figure", "pr_steps", "reliability_figure",
           "forest_figure", "model_colors"]

PALETTE = ("#1b6ca8", "#d1495b", "#00798c", "#edae49", "#66a182", "#8d6a9f", "#2e4057")
ORACLE_COLOR = "#7f7f7f"
STYLE = {"font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
         "axes.grid": True, "grid.alpha": 0.25, "svg.hashsalt": "realm", "svg.fonttype": "path"}

Curves = Mapping[str, tuple[np.ndarray, np.ndarray]]  # model -> (y_true, y_prob)


def model_colors(models: Sequence[str]) -> dict[str, str]:
    """A stable colour per model, in table order; the oracle is always grey."""
    colors, k = {}, 0
    for m in models:
        if m.startswith("oracle"):
            colors[m] = ORACLE_COLOR
        else:
            colors[m], k = PALETTE[k % len(PALETTE)], k + 1
    return colors


def svg_data_uri(fig: plt.Figure) -> str:
    """Render and close ``fig``; return a ``data:image/svg+xml;base64,`` URI."""
    buf = io.BytesIO()
    # metadata Date=None: the same figure gives the same bytes (reproducible reports)
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _style(model: str, reference: str, colors: Mapping[str, str]) -> dict[str, Any]:
    main = model == reference
    return {"color": colors[model], "lw": 2.4 if main else 1.3, "zorder": 3 if main else 2,
            "ls": ":" if model.startswith("oracle") else "-"}


def _ordered(curves: Curves, reference: str) -> list[str]:
    return [reference, *[m for m in curves if m != reference]] if reference in curves \
        else list(curves)


def roc_figure(curves: Curves, reference: str, labels: Mapping[str, str],
               points: Mapping[str, Mapping[str, float]]) -> str:
    """ROC curves; ``points[model]`` is the operating point (threshold, sensitivity, ppv),
    marked where that threshold sits on the curve. ``labels[model]`` goes in the legend."""
    colors = model_colors(list(curves))
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(4.6, 4.2))
        ax.plot([0, 1], [0, 1], color="#bbbbbb", lw=1, ls="--", label="chance")
        for m in _ordered(curves, reference):
            y, p = curves[m]
            fpr, tpr, thr = roc_curve(y, p, drop_intermediate=False)
            ax.plot(fpr, tpr, label=labels.get(m, m), **_style(m, reference, colors))
            op = points.get(m)
            if op and np.isfinite(op["threshold"]):
                i = int(np.argmin(np.abs(thr - op["threshold"])))
                ax.plot(fpr[i], tpr[i], "o", ms=7, mfc="white", mec=colors[m], mew=2, zorder=4)
        ax.set(xlabel="1 - specificity (false positive rate)", ylabel="sensitivity",
               xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), aspect="equal")
        ax.legend(loc="lower right", fontsize=7, frameon=False)
        ax.set_title("ROC  (o = operating point, max min(Se, +P))", fontsize=9)
        return svg_data_uri(fig)


def pr_steps(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision), recall decreasing, of the step function that average precision
    integrates: at each recall the precision where that recall is first reached (the highest
    threshold). The dips where only negatives pass a threshold add no area to AP, so they
    are left out rather than drawn as spikes below the curve."""
    prec, rec, _ = precision_recall_curve(y, p)
    order = np.lexsort((-prec, -rec))  # recall decreasing, best precision first within it
    rec, prec = rec[order], prec[order]
    first = np.r_[True, rec[1:] != rec[:-1]]
    return rec[first], prec[first]


def pr_figure(curves: Curves, reference: str, labels: Mapping[str, str],
              points: Mapping[str, Mapping[str, float]]) -> str:
    """Precision-recall curves (step-wise, as average precision integrates them) with the
    prevalence as the no-skill line and the operating point marked."""
    colors = model_colors(list(curves))
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(4.6, 4.2))
        first = next(iter(curves.values()))[0]
        ax.axhline(float(np.mean(first)), color="#bbbbbb", lw=1, ls="--",
                   label=f"prevalence {np.mean(first):.2f}")
        for m in _ordered(curves, reference):
            y, p = curves[m]
            rec, prec = pr_steps(y, p)
            ax.step(rec, prec, where="post", label=labels.get(m, m), **_style(m, reference, colors))
            op = points.get(m)
            if op and np.isfinite(op["threshold"]):
                ax.plot(op["sensitivity"], op["ppv"], "o", ms=7, mfc="white", mec=colors[m],
                        mew=2, zorder=4)
        ax.set(xlabel="recall (sensitivity)", ylabel="precision (PPV)", xlim=(-0.01, 1.01),
               ylim=(-0.01, 1.01), aspect="equal")
        ax.legend(loc="upper right", fontsize=7, frameon=False)
        ax.set_title("Precision-recall  (o = operating point)", fontsize=9)
        return svg_data_uri(fig)


def reliability_figure(curves: Curves, reference: str, n_bins: int = 10) -> str:
    """Reliability diagram: observed event rate against mean predicted risk per bin (dot
    area ~ stays in the bin), with the distribution of predicted risks underneath."""
    colors = model_colors(list(curves))
    with plt.rc_context(STYLE):
        fig, (ax, hist) = plt.subplots(2, 1, figsize=(4.6, 5.0), sharex=True,
                                       gridspec_kw={"height_ratios": [3.2, 1]})
        ax.plot([0, 1], [0, 1], color="#bbbbbb", lw=1, ls="--", label="perfect calibration")
        bins = np.linspace(0, 1, 21)
        for m in _ordered(curves, reference):
            y, p = curves[m]
            rc = reliability_curve(y, p, n_bins=n_bins)
            ok = rc.counts > 0
            style = _style(m, reference, colors)
            ax.plot(rc.mean_predicted[ok], rc.observed_frequency[ok], color=style["color"],
                    lw=style["lw"], ls=style["ls"], zorder=style["zorder"], label=m)
            ax.scatter(rc.mean_predicted[ok], rc.observed_frequency[ok],
                       s=12 + 120 * rc.counts[ok] / rc.counts.sum(), color=style["color"],
                       zorder=style["zorder"], alpha=0.85, edgecolors="white", linewidths=0.5)
            hist.hist(p, bins=bins, histtype="step", color=style["color"], lw=style["lw"] * 0.7)
        ax.set(ylabel="observed event rate", xlim=(0, 1), ylim=(-0.02, 1.02))
        ax.legend(loc="upper left", fontsize=7, frameon=False)
        ax.set_title(f"Reliability ({n_bins} equal-width bins; dot area ~ stays)", fontsize=9)
        hist.set(xlabel="predicted risk", ylabel="stays")
        return svg_data_uri(fig)


FOREST_METRICS = (("auroc", "AUROC"), ("auprc", "AUPRC (avg. precision)"),
                  ("min_se_ppv", "min(Se, +P)"), ("brier", "Brier (lower is better)"))


def forest_figure(models: Mapping[str, Mapping[str, Any]], reference: str) -> str:
    """Each model's point estimate and 95 % bootstrap interval, one panel per metric."""
    names = _ordered(models, reference)
    colors = model_colors(names)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(FOREST_METRICS), figsize=(9.2, 0.5 + 0.42 * len(names)),
                                 sharey=True)
        ypos = np.arange(len(names))[::-1]
        for ax, (key, title) in zip(axes, FOREST_METRICS):
            for y, m in zip(ypos, names):
                rec = models[m]["metrics"][key]
                lo, hi = rec["ci95"]
                ax.plot([lo, hi], [y, y], color=colors[m], lw=2, solid_capstyle="round")
                ax.plot(rec["value"], y, "o", color=colors[m], ms=6 if m == reference else 4.5)
            ax.set_title(title, fontsize=8.5)
            ax.grid(axis="y", visible=False)
        axes[0].set_yticks(ypos, names)
        return svg_data_uri(fig)
