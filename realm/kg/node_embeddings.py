"""Per-node vectors for the model, cached per KG version.

Two kinds:

- ``text``: the embedding of what REALM retrieves for a node, its name, definition and most
  informative relations, e.g. ``"Heart failure. <definition>. is_a: Heart disease;
  has_phenotype: Dyspnea"`` (see :func:`node_text`);
- ``struct``: a TransE embedding learned from the typed edges in torch (seeded, a few epochs,
  small dimension), so nodes that share neighbourhoods lie close even when their names do not.

Both are stored under ``stage_dir("node_embeddings", key)``, the key hashing the KG version
and every setting, so a new KG version never reads an old file.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from typing import Literal

import numpy as np
from tqdm.auto import tqdm

from realm.cache import atomic_dir, config_hash, stage_dir
from realm.errors import ConfigError, KGError
from realm.kg.embedders import TextEmbedder
from realm.kg.graph import KnowledgeGraph

__all__ = ["node_text", "node_embeddings", "text_embeddings", "transe_embeddings"]

log = logging.getLogger(__name__)


def node_text(
    kg: KnowledgeGraph, node_id: str, *, max_relations: int = 8, max_chars: int = 600
) -> str:
    """The node's name, definition and up to ``max_relations`` neighbours, as one passage.

    Neighbours are ranked by how specific they are (low degree first): "is_a: Phenotypic
    abnormality" is true of thousands of nodes and tells the model nothing.
    """
    node = kg.node(node_id)
    parts = [node.name.rstrip(".") + "."]
    if node.definition:
        parts.append(node.definition.strip().rstrip(".") + ".")
    ranked = sorted(kg.neighbors(node_id), key=lambda rn: (kg.graph.degree(rn[1]), rn))
    grouped: dict[str, list[str]] = defaultdict(list)
    for relation, other in ranked[:max_relations]:
        grouped[relation.replace("~", "inverse ")].append(kg.node(other).name)
    if grouped:
        parts.append(
            "; ".join(f"{rel}: {', '.join(names)}" for rel, names in sorted(grouped.items()))
        )
    return " ".join(parts)[:max_chars]


def text_embeddings(
    kg: KnowledgeGraph, embedder: TextEmbedder, *, batch_size: int = 64, progress: bool = True
) -> tuple[list[str], np.ndarray]:
    """(ids, (N, embedder.dim)) text embeddings of every node, in id order."""
    ids = [n.id for n in kg.nodes()]
    texts = [node_text(kg, i) for i in ids]
    chunk = 2048  # chunks only to drive the progress bar; embed() batches inside
    parts = []
    for s in tqdm(
        range(0, len(texts), chunk), desc="node texts", unit="chunk", disable=not progress
    ):
        parts.append(embedder.embed(texts[s : s + chunk], batch_size=batch_size))
    vectors = np.concatenate(parts) if parts else np.zeros((0, embedder.dim), np.float32)
    return ids, vectors


def transe_embeddings(
    kg: KnowledgeGraph,
    *,
    dim: int = 64,
    epochs: int = 20,
    batch_size: int = 1024,
    lr: float = 0.01,
    margin: float = 1.0,
    seed: int = 0,
    progress: bool = True,
) -> tuple[list[str], np.ndarray]:
    """(ids, (N, dim)) TransE entity vectors (h + r ~ t), unit norm, deterministic per seed."""
    import torch

    ids = [n.id for n in kg.nodes()]
    pos = {node_id: i for i, node_id in enumerate(ids)}
    edges = list(kg.edges())
    relations = sorted({e[2] for e in edges})
    rel_pos = {r: i for i, r in enumerate(relations)}
    gen = torch.Generator().manual_seed(seed)
    # Sparse rows + SparseAdam: a step touches the batch's rows only, not the whole table
    # (dense Adam over every node made one step cost ~0.7 s on the HPO KG).
    ent = torch.nn.Embedding(len(ids), dim, sparse=True)
    rel = torch.nn.Embedding(max(1, len(relations)), dim, sparse=True)
    bound = 6 / dim**0.5  # the TransE paper's uniform init
    with torch.no_grad():
        ent.weight.uniform_(-bound, bound, generator=gen)
        rel.weight.uniform_(-bound, bound, generator=gen)
        rel.weight.div_(rel.weight.norm(dim=1, keepdim=True))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: threads only add sync cost; restored below
    try:
        if edges:
            triples = torch.tensor([[pos[h], rel_pos[r], pos[t]] for h, t, r, _ in edges])  # (E, 3)
            opt = torch.optim.SparseAdam([*ent.parameters(), *rel.parameters()], lr=lr)
            for _ in tqdm(range(epochs), desc="TransE", unit="epoch", disable=not progress):
                perm = torch.randperm(len(triples), generator=gen)
                for s in range(0, len(triples), batch_size):
                    batch = triples[perm[s : s + batch_size]]  # (B, 3)
                    h, r, t = batch[:, 0], batch[:, 1], batch[:, 2]
                    # Corrupt head or tail at random (Bordes et al. 2013).
                    fake = torch.randint(len(ids), (len(batch),), generator=gen)
                    swap_head = torch.rand(len(batch), generator=gen) < 0.5
                    h2, t2 = torch.where(swap_head, fake, h), torch.where(swap_head, t, fake)
                    with torch.no_grad():  # entities live on the unit sphere (TransE)
                        rows = torch.unique(torch.cat([h, t, fake]))
                        ent.weight[rows] = ent.weight[rows] / ent.weight[rows].norm(
                            dim=1, keepdim=True
                        ).clamp_min(1e-12)
                    d_pos = (ent(h) + rel(r) - ent(t)).norm(dim=1)  # (B,)
                    d_neg = (ent(h2) + rel(r) - ent(t2)).norm(dim=1)  # (B,)
                    loss = torch.relu(margin + d_pos - d_neg).mean()
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
    finally:
        torch.set_num_threads(threads)
    vectors = ent.weight.detach().numpy().astype(np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return ids, vectors


def node_embeddings(
    kg: KnowledgeGraph,
    embedder: TextEmbedder | None = None,
    *,
    kind: Literal["text", "struct"] = "text",
    dim: int = 64,
    epochs: int = 20,
    seed: int = 0,
    cache: bool = True,
    progress: bool = True,
) -> tuple[list[str], np.ndarray]:
    """(node ids in id order, (N, D) float32 vectors) of ``kind``, cached per KG version.

    ``text`` needs ``embedder`` (D = embedder.dim); ``struct`` ignores it (D = ``dim``).
    """
    if kind == "text":
        if embedder is None:
            raise ConfigError("kind='text' node embeddings need an embedder")
        settings = {"kind": kind, "embedder": embedder.model_id, "text_recipe": 1}
    elif kind == "struct":
        settings = {"kind": kind, "method": "transe", "dim": dim, "epochs": epochs, "seed": seed}
    else:
        raise ConfigError(f"unknown node embedding kind {kind!r}; choose 'text' or 'struct'")
    folder = stage_dir("node_embeddings", config_hash(kg.version, settings))
    if cache and (folder / "vectors.npy").is_file():
        return _read(folder, kg)
    start = time.perf_counter()
    if kind == "text":
        ids, vectors = text_embeddings(kg, embedder, progress=progress)  # type: ignore[arg-type]
    else:
        ids, vectors = transe_embeddings(kg, dim=dim, epochs=epochs, seed=seed, progress=progress)
    log.info(
        "%s node embeddings of %s (%d nodes) in %.1fs",
        kind,
        kg.name,
        len(ids),
        time.perf_counter() - start,
    )
    if cache:
        with atomic_dir(folder) as tmp:
            np.save(tmp / "vectors.npy", vectors)
            (tmp / "meta.json").write_text(
                json.dumps({"kg_version": kg.version, "ids": ids, **settings})
            )
    return ids, vectors


def _read(folder, kg: KnowledgeGraph) -> tuple[list[str], np.ndarray]:
    meta = json.loads((folder / "meta.json").read_text())
    if meta.get("kg_version") != kg.version:  # the key includes the version; this guards tampering
        raise KGError(
            f"{folder}: node embeddings of KG version {meta.get('kg_version')}, not {kg.version}"
        )
    return list(meta["ids"]), np.load(folder / "vectors.npy")
