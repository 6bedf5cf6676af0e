"""``realm bench linking``: entity-linking accuracy on BioCreative VIII Track 3, and index speed;
or accuracy@1 on a check set of everyday phrases (``--check-set``).

    realm bench linking --data Clinical-Genetics-Physical-Exam-Data-Train.tsv --out linking.json \
        [--kg hpo] [--seed 0] [--embedder onnx] [--fresh-build] [--default-build]
    realm bench linking --check-set kg/checks/everyday_icu_phrases.csv [--kg default] [--out check.json]

A check set is a CSV ``phrase,expected,reason``: a phrase a note or a clinician says, the KG
ids any of which is a right link (separated by ``|``), and why. Accuracy@1 counts the phrases
whose first candidate is one of them, for the dictionary linker and, where ``realm kg index``
has built the KG's index, the dense linker.

Settings: :class:`LinkingBenchConfig`, tuned values in ``configs/bench/linking.yaml``.

Gold mentions are the annotated spans (discontinuous spans joined by a space; rows whose Term
is NA skipped), gold ids resolved through the KG's alt ids. Observations (StringID) are split
into a tuning part and a held-out part; the re-rank weight is chosen on the tuning part only
and every accuracy reported is on the held-out part. Speed: index build throughput, Chroma query
latency p50/p95, and Chroma's recall@10 against exact cosine over the very same vectors.
"""

from __future__ import annotations

import csv
import json
import logging
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from realm.cache import atomic_path
from realm.errors import DataError, KGError
from realm.kg.embedders import DEFAULT_EMBEDDER

__all__ = ["LinkingBenchConfig", "run", "format_table", "MemoEmbedder", "dictionary_linker", "dense_linker", "GoldMention", "read_gold", "split_gold", "accuracy_at",
           "CheckPhrase", "read_check_set", "check_set_accuracy", "run_check_set", "format_check_set"]

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class LinkingBenchConfig:
    """What ``realm bench linking`` runs.

    Args:
        data: BioCreative VIII Track 3 TSV (the Train split).
        out: JSON file to write.
        kg: KG spec the gold ids are resolved in.
        holdout_frac: share of observations held out (the rest tunes the re-rank weight).
        seed: split seed.
        embedder: text embedder name (realm.kg.embedders).
        lexical_weights: re-rank lexical weights tried on the tuning part.
        fresh_build: time a full index build in a temporary folder (else reuse ``realm kg index``'s).
        default_build: also time the default KG + index build from a clean cache (minutes).
    """

    data: Path
    out: Path
    kg: str = "hpo"
    holdout_frac: float = 0.5
    seed: int = 0
    embedder: str = DEFAULT_EMBEDDER
    lexical_weights: tuple[float, ...] = field(default=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5))
    fresh_build: bool = False
    default_build: bool = False


@dataclass(frozen=True)
class GoldMention:
    """One annotated finding: its observation, covered text and gold node id."""

    string_id: str
    text: str
    node_id: str


def read_gold(path: str | Path, kg: Any) -> tuple[list[GoldMention], int]:
    """Gold mentions of the bc8 TSV (ids resolved in ``kg``) and the number of unresolvable ids."""
    path = Path(path)
    if not path.is_file():
        raise DataError("no such file", path=path)
    gold, unresolved = [], 0
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        for row_no, row in enumerate(reader, start=2):
            if row.get("Term") in (None, "", "NA"):
                continue
            try:
                spans = [tuple(int(x) for x in part.split("-")) for part in row["Spans"].split(",")]
            except (ValueError, AttributeError):
                raise DataError(
                    f"bad span list {row.get('Spans')!r}", path=path, row=row_no, field="Spans"
                ) from None
            text = " ".join(row["Text"][s:e] for s, e in spans)
            try:
                node_id = kg.resolve(row["Term"].strip())
            except KGError:
                unresolved += 1
                continue
            gold.append(GoldMention(row["StringID"], " ".join(text.split()), node_id))
    return gold, unresolved


def split_gold(
    gold: list[GoldMention], holdout_frac: float, seed: int
) -> tuple[list[GoldMention], list[GoldMention]]:
    """(tuning, held-out), split by observation so one text never lands in both."""
    ids = sorted({g.string_id for g in gold})
    random.Random(seed).shuffle(ids)
    held = set(ids[: round(len(ids) * holdout_frac)])
    return [g for g in gold if g.string_id not in held], [g for g in gold if g.string_id in held]


def accuracy_at(gold: list[GoldMention], ranked: list[list[str]], k: int) -> float:
    """Share of mentions whose gold id is among the first ``k`` predictions."""
    return (
        float(np.mean([g.node_id in r[:k] for g, r in zip(gold, ranked, strict=True)]))
        if gold
        else 0.0
    )


def _rank(linker: Any, gold: list[GoldMention]) -> list[list[str]]:
    return [
        [c.node_id for c in cands]
        for cands in linker.link_batch([g.text for g in gold], "phenotype", k=5)
    ]


def _speed(
    kg: Any, embedder: Any, queries: list[str], workdir: Path | None
) -> tuple[dict[str, Any], Any]:
    """Build throughput, Chroma latency and recall@10 vs exact; returns (numbers, chroma index).

    ``workdir`` set: a full build into a fresh collection there. None: the cached index of
    ``realm kg index`` is used (built or updated first; only what that embeds is timed).
    """
    from realm.kg.index import ChromaIndex, NumpyIndex, build_index

    if workdir is not None:
        chroma = ChromaIndex("bench", path=workdir / "chroma")
    else:
        chroma = ChromaIndex.for_kg(kg.name, embedder.model_id)
    report = build_index(kg, embedder, chroma, progress=True)
    # Exact cosine over the very vectors Chroma holds: recall measures HNSW, nothing else.
    ids = sorted(chroma.ids())
    vectors, metas = chroma.get(ids)
    exact = NumpyIndex()
    exact.add(ids, vectors, metas)
    q = embedder.embed(queries)
    latencies, recalls = [], []
    truth = exact.query(q, 10)
    for vec, ref in zip(q, truth, strict=True):
        t = time.perf_counter()
        hits = chroma.query(vec[None, :], 10)[0]
        latencies.append((time.perf_counter() - t) * 1000)
        recalls.append(len(set(hits.ids) & set(ref.ids)) / max(1, len(ref.ids)))
    return {
        "entries": report.entries,
        "fresh_build": workdir is not None,
        "strings_embedded": report.added,
        "build_seconds": round(report.seconds, 1),
        "build_strings_per_s": round(report.strings_per_s, 1),
        "query_latency_ms_p50": round(float(np.percentile(latencies, 50)), 2),
        "query_latency_ms_p95": round(float(np.percentile(latencies, 95)), 2),
        "recall_at_10_vs_exact": round(float(np.mean(recalls)), 4),
        "n_queries": len(queries),
    }, chroma


class MemoEmbedder:
    """Remembers vectors across the tuning runs, which embed the same mentions each time."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.model_id, self.dim = inner, inner.model_id, inner.dim
        self._memo: dict[str, np.ndarray] = {}

    def embed(self, texts: Any, batch_size: int = 64) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if new:
            self._memo.update(zip(new, self.inner.embed(new, batch_size), strict=True))
        return np.stack([self._memo[t] for t in texts]) if texts else self.inner.embed([])


def dictionary_linker(kg: Any) -> Any:
    """The dictionary-only system: exact and normalised names, synonyms, abbreviations."""
    from realm.kg.linker import Linker, LinkerConfig

    return Linker(kg, None, None, LinkerConfig(dense=False))


def dense_linker(kg: Any, embedder: Any, config: Any = None) -> Any:
    """The full linker as ``realm extract`` links: dictionary, then dense retrieval from the
    Chroma index ``realm kg index`` built (a KGError when it is missing or stale), re-ranked."""
    from realm.kg.index import ChromaIndex
    from realm.kg.linker import Linker

    return Linker(kg, embedder, ChromaIndex.for_kg(kg.name, embedder.model_id), config)


def _default_build_seconds(embedder_name: str) -> dict[str, Any]:
    """Time `realm kg index --kg default` from a clean cache in a child process."""
    with tempfile.TemporaryDirectory(prefix="realm-bench-") as tmp:
        code = (
            "import time,sys;from realm.kg.spec import load_kg;"
            "from realm.kg.embedders import get_embedder;"
            "from realm.kg.index import ChromaIndex,build_index;t=time.perf_counter();"
            "kg=load_kg('default',progress=False);k=time.perf_counter()-t;e=get_embedder(sys.argv[1]);"
            "r=build_index(kg,e,ChromaIndex.for_kg(kg.name,e.model_id),progress=False);"
            "print(len(kg),r.entries,round(k,1),round(time.perf_counter()-t-k,1))"
        )
        env = {**__import__("os").environ, "REALM_CACHE": tmp}
        out = subprocess.run(
            [sys.executable, "-c", code, embedder_name], env=env, capture_output=True, text=True
        )
        if out.returncode != 0:
            return {
                "error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"
            }
        nodes, entries, kg_s, index_s = out.stdout.split()[-4:]
        return {
            "nodes": int(nodes),
            "entries": int(entries),
            "kg_build_seconds": float(kg_s),
            "index_build_seconds": float(index_s),
        }


def run(cfg: LinkingBenchConfig) -> dict[str, Any]:
    """Run the benchmark; writes JSON to ``cfg.out`` and returns it."""
    from realm.kg.embedders import get_embedder
    from realm.kg.linker import Linker, LinkerConfig
    from realm.kg.spec import load_kg

    kg = load_kg(cfg.kg, progress=False)
    gold, unresolved = read_gold(cfg.data, kg)
    tune, held = split_gold(gold, cfg.holdout_frac, cfg.seed)
    embedder = get_embedder(cfg.embedder)
    with tempfile.TemporaryDirectory(prefix="realm-bench-") as tmp:
        workdir = Path(tmp) if cfg.fresh_build else None
        speed, chroma = _speed(kg, embedder, [g.text for g in held], workdir)
        exact = dictionary_linker(kg)
        embedder = MemoEmbedder(embedder)
        tuning = {}
        for w in cfg.lexical_weights:
            linker = Linker(kg, embedder, chroma, LinkerConfig(lexical_weight=w))
            tuning[w] = accuracy_at(tune, _rank(linker, tune), 1)
        best_w = max(cfg.lexical_weights, key=lambda w: (tuning[w], -w))
        full = Linker(kg, embedder, chroma, LinkerConfig(lexical_weight=best_w))
        ranked = {"exact_dictionary": _rank(exact, held), "full_linker": _rank(full, held)}
    result = {
        "kg": {"spec": cfg.kg, "name": kg.name, "version": kg.version, "nodes": len(kg)},
        "embedder": embedder.model_id,
        "data": {
            "path": str(cfg.data),
            "mentions": len(gold),
            "unresolved_ids": unresolved,
            "tuning": len(tune),
            "held_out": len(held),
            "holdout_frac": cfg.holdout_frac,
            "seed": cfg.seed,
        },
        "tuned_lexical_weight": best_w,
        "tuning_acc_at_1": {str(w): round(a, 4) for w, a in tuning.items()},
        "held_out": {
            name: {
                "acc_at_1": round(accuracy_at(held, r, 1), 4),
                "acc_at_5": round(accuracy_at(held, r, 5), 4),
            }
            for name, r in ranked.items()
        },
        "speed": speed,
    }
    if cfg.default_build:
        result["default_kg_index_build"] = _default_build_seconds(cfg.embedder)
    with atomic_path(cfg.out) as tmp_out:
        tmp_out.write_text(json.dumps(result, indent=2))
    return result


def format_table(result: dict[str, Any]) -> str:
    """The held-out accuracies and the speed figures as text."""
    held = result["data"]["held_out"]
    lines = [f"{'linker':<18} {'acc@1':>7} {'acc@5':>7}   (held-out, n={held})"]
    lines += [
        f"{n:<18} {v['acc_at_1']:>7.3f} {v['acc_at_5']:>7.3f}"
        for n, v in result["held_out"].items()
    ]
    lines += [f"{k}: {v}" for k, v in result["speed"].items()]
    return "\n".join(lines)


@dataclass(frozen=True)
class CheckPhrase:
    """One row of a linking check set: the phrase, the ids any of which is right, the reason."""

    phrase: str
    expected: tuple[str, ...]
    reason: str


def read_check_set(path: str | Path, kg: Any) -> list[CheckPhrase]:
    """The rows of a ``phrase,expected,reason`` CSV, expected ids resolved in ``kg``
    (an id the KG lacks is an error naming its row: the check set must track the KG)."""
    path = Path(path)
    if not path.is_file():
        raise DataError("no such file", path=path)
    rows = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"phrase", "expected", "reason"} - set(reader.fieldnames or ())
        if missing:
            raise DataError(f"missing columns {sorted(missing)}", path=path, row=1)
        for row_no, row in enumerate(reader, start=2):
            ids = []
            for node_id in (row["expected"] or "").split("|"):
                try:
                    ids.append(kg.resolve(node_id.strip()))
                except KGError:
                    raise DataError(f"expected id {node_id!r} is not in KG {kg.name!r}", path=path,
                                    row=row_no, field="expected") from None
            if not (row["phrase"] or "").strip() or not ids:
                raise DataError("needs a phrase and an expected id", path=path, row=row_no)
            rows.append(CheckPhrase(row["phrase"].strip(), tuple(ids), (row["reason"] or "").strip()))
    return rows


def check_set_accuracy(linker: Any, phrases: list[CheckPhrase]) -> tuple[float, list[dict[str, Any]]]:
    """Accuracy@1 of ``linker`` over ``phrases`` and, per phrase, what it linked to."""
    ranked = linker.link_batch([p.phrase for p in phrases], None, k=1)
    rows = [{"phrase": p.phrase, "linked": c[0].node_id if c else None,
             "correct": bool(c) and c[0].node_id in p.expected} for p, c in zip(phrases, ranked, strict=True)]
    return (sum(r["correct"] for r in rows) / len(rows) if rows else 0.0), rows


def run_check_set(path: str | Path, kg_spec: str = "default", embedder_name: str = DEFAULT_EMBEDDER,
                  out: Path | None = None) -> dict[str, Any]:
    """Accuracy@1 of the dictionary linker and (where its index exists) the dense linker on the
    check set at ``path``; writes JSON to ``out`` when given and returns it."""
    from realm.kg.embedders import get_embedder
    from realm.kg.index import ChromaIndex, check_index
    from realm.kg.spec import load_kg

    kg = load_kg(kg_spec, progress=False)
    phrases = read_check_set(path, kg)
    result: dict[str, Any] = {"kg": {"spec": kg_spec, "version": kg.version}, "check_set": str(path),
                              "phrases": len(phrases), "acc_at_1": {"dictionary": None, "dense": None},
                              "misses": {}}
    linkers: dict[str, Any] = {"dictionary": dictionary_linker(kg)}
    try:
        embedder = get_embedder(embedder_name)
        # the phrases are linked without a type: a scoped index would answer from its types only
        check_index(ChromaIndex.for_kg(kg.name, embedder.model_id), kg, embedder, {n.type for n in kg.nodes()})
        linkers["dense"] = dense_linker(kg, embedder)
    except KGError as exc:  # no index built: the dictionary figure stands alone
        log.warning("dense linker skipped: %s", exc)
    for name, linker in linkers.items():
        acc, rows = check_set_accuracy(linker, phrases)
        result["acc_at_1"][name] = round(acc, 4)
        result["misses"][name] = [r for r in rows if not r["correct"]]
    if out is not None:
        with atomic_path(out) as tmp_out:
            tmp_out.write_text(json.dumps(result, indent=2))
    return result


def format_check_set(result: dict[str, Any]) -> str:
    """Accuracy@1 per linker as text (``n/a``: the dense linker had no index)."""
    lines = [f"check set {result['check_set']} ({result['phrases']} phrases, KG {result['kg']['spec']})"]
    lines += [f"{name:<12} acc@1 {'n/a' if acc is None else f'{acc:.3f}'}" for name, acc in result["acc_at_1"].items()]
    return "\n".join(lines)
