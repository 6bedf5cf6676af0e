"""The BioCreative VIII Track 3 scores: strict, normalization-only, and negation accuracy.

* strict: a predicted finding is right when its HPO id (after alt-id resolution) and its
  spans both equal a gold finding of the same observation;
* normalization-only: each observation is a set of ids; a predicted id is right when the
  observation's gold set holds it;
* negation accuracy: over the normalization matches, how often the predicted negation flag
  equals the gold one.

Pure functions over :class:`~realm.bench.bc8.data.Observation` lists; ids are resolved with a
callable so this module needs no knowledge graph (the bench passes ``KnowledgeGraph.resolve``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from realm.bench.bc8.data import Observation

__all__ = ["prf", "score_bc8"]

Resolver = Callable[[str], str]


def prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float]:
    """Precision, recall and F1 from counts (0.0 where undefined)."""
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"p": p, "r": r, "f1": f1, "tp": tp, "n_pred": n_pred, "n_gold": n_gold}


def _identity(term: str) -> str:
    return term


def _by_id(observations: Sequence[Observation], resolve: Resolver) -> dict[str, dict[tuple, bool]]:
    """sid -> {(id, spans): negated}, ids resolved."""
    out: dict[str, dict[tuple, bool]] = {}
    for obs in observations:
        bucket = out.setdefault(obs.string_id, {})
        for f in obs.findings:
            bucket[(resolve(f.term), tuple(sorted(f.spans)))] = f.negated
    return out


def score_bc8(
    gold: Sequence[Observation],
    predicted: Sequence[Observation],
    *,
    resolve: Resolver | None = None,
) -> dict[str, object]:
    """Score ``predicted`` against ``gold`` (matched by StringID; predictions for unknown
    observations are ignored). Returns ``{strict, norm: {p, r, f1, ...}, negation_acc,
    negation_n}``."""
    resolve = resolve or _identity
    g = _by_id(gold, resolve)
    p = {sid: v for sid, v in _by_id(predicted, resolve).items() if sid in g}
    strict_tp = sum(len(g[sid].keys() & p[sid].keys()) for sid in p)
    n_strict_gold = sum(len(v) for v in g.values())
    n_strict_pred = sum(len(v) for v in p.values())

    norm_tp = norm_pred = norm_gold = 0
    neg_right = neg_n = 0
    for sid, gold_items in g.items():
        gold_ids: dict[str, bool] = {}
        for (term, _), neg in gold_items.items():
            # an id both negated and not in one observation counts as present
            gold_ids[term] = gold_ids.get(term, True) and neg
        pred_ids: dict[str, bool] = {}
        for (term, _), neg in p.get(sid, {}).items():
            pred_ids[term] = pred_ids.get(term, True) and neg
        norm_gold += len(gold_ids)
        norm_pred += len(pred_ids)
        for term in gold_ids.keys() & pred_ids.keys():
            norm_tp += 1
            neg_n += 1
            neg_right += gold_ids[term] == pred_ids[term]
    return {
        "strict": prf(strict_tp, n_strict_pred, n_strict_gold),
        "norm": prf(norm_tp, norm_pred, norm_gold),
        "negation_acc": neg_right / neg_n if neg_n else 0.0,
        "negation_n": neg_n,
    }
