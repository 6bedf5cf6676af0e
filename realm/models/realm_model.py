"""REALM: time series, KG entities and notes, fused adaptively, predicting every task.

Inputs per stay (keys of the batch; see realm.features.entities and realm.features.notes):
the binned series, the entity set ``entities_*`` (E linked KG nodes), optionally note
embeddings ``notes_emb`` (N chunks), optionally the serialized-record embedding
``record_vector`` (realm.features.record) and optionally the per-variable summary
statistics ``summary_*`` (realm.features.summary). With H the model width:

    X = W_ts enc(series)                                  (B, T, H)  time-step tokens
    Z = SetTransformer(W_n [text; struct] + E_type + E_assert + MLP(numbers))
                                                          (B, E, H)  entity tokens
        numbers = log n, t/48, link score, and a finding's log severity, fraction abnormal,
        last abnormal hour/48, tanh(last excess) (realm.features.entities)
    U = [W_u notes ; W_r record]                          (B, N(+1), H)  text tokens
        (the record vector, with use_record, is one more always-present text token)
    cross-attention, every key set masked (an empty set gives a zero context):
    X' = LN(X + MHA(X, [Z; U]))   Z' = LN(Z + MHA(Z, X))   U' = LN(U + MHA(U, X))
    (each followed by LN(. + FFN(.)))
    s_ts = W [pool(X') ; h_T ; stats(series)]           (stats with use_stats)
    s_ent = pool(Z'),  s_note = pool(U')
    g = softmax over present modalities of W_g [s_ts; s_ent; s_note]     (B, 3)
    logits = heads(LN(sum_m g_m s_m)) + the optional logit terms            (B, K)

The optional terms (realm.models.terms) are passed in from config, each a small linear unit:
``wide_summary`` (a linear map of the summary statistics), ``wide_entities`` (of the summed
node vectors of the present entities, with its ridge penalty), ``linear_prior`` (a ridge
logistic regression fitted on the train split before the network trains, then fixed) and
``aux_targets`` (a head predicting auxiliary targets, a training signal only).

``fusion="concat"`` (ablation) skips the cross-attention and the gate: the pooled
summaries (zeros for an absent modality) are concatenated and projected. During training a
random ``modality_dropout`` fraction of stays loses its entity set (and, independently, its
notes), so a stay without notes or entities is predicted well too; ``entity_dropout`` hides
single entity tokens (never a whole set).

Sizes are never typed in a config: ``node_dim``, ``note_dim``, ``record_dim``,
``summary_factors`` and ``n_aux_targets`` are linked from the DataModule's providers
(realm.pipeline.train.RealmCLI), as ``n_features`` is.

The model records the KG version and node-embedding id it was trained with (hparams and
checkpoint) and refuses data from another KG version (:class:`KGError`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from realm.errors import ConfigError, KGError
from realm.models.encoders import EncoderFactory, GRUEncoder
from realm.features.schema import (AUX_KEY, ENTITY_KEYS, N_ENTITY_TYPES, NOTE_KEYS, RECORD_KEY,
                                   SUMMARY_KEYS, summary_shape)
from realm.models.fusion import AttentionPool, CrossBlock, EntityEncoder, ModalityGate, StatsEncoder
from realm.models.module import LRSchedule, MultitaskHead, RealmTask, check_finite
from realm.models.terms import AuxTargetsHead, LinearPriorTerm, WideEntitiesTerm, WideSummaryTerm

__all__ = ["RealmConfig", "RealmModel", "MODALITIES"]

MODALITIES = ("timeseries", "entities", "notes")


@dataclass(frozen=True)
class RealmConfig:
    """Architecture of :class:`RealmModel`'s core (the sizes are linked from the data, the
    optional logit terms are init args of their own).

    Attributes:
        hidden: width H of every token.
        heads: attention heads.
        set_layers: self-attention blocks of the entity-set encoder.
        fusion: ``cross_attention`` (REALM) or ``concat`` (ablation).
        use_timeseries, use_entities, use_notes: which modalities the model reads.
        use_record: read the serialized-record embedding (RecordVectorProvider) as one more
            text token beside the notes.
        use_stats: add per-feature statistics of the binned series to its summary.
        modality_dropout: fraction of training stays whose entities (notes) are hidden.
        entity_dropout: fraction of entity tokens hidden, each independently, in training
            (a stay's set is never emptied by it): the model cannot lean on a few nodes.
        dropout: dropout inside blocks and before the heads.
    """

    hidden: int = 64
    heads: int = 4
    set_layers: int = 1
    fusion: Literal["cross_attention", "concat"] = "cross_attention"
    use_timeseries: bool = True
    use_entities: bool = True
    use_notes: bool = False
    use_record: bool = False
    use_stats: bool = True
    modality_dropout: float = 0.2
    entity_dropout: float = 0.0
    dropout: float = 0.1

    def check(self) -> None:
        if self.fusion not in ("cross_attention", "concat"):
            raise ConfigError(f"fusion must be 'cross_attention' or 'concat', not {self.fusion!r}")
        if not (self.use_timeseries or self.use_entities or self.use_notes or self.use_record):
            raise ConfigError("RealmConfig: enable at least one of use_timeseries, use_entities, "
                              "use_notes, use_record")
        if not 0.0 <= self.modality_dropout < 1.0:
            raise ConfigError(f"modality_dropout must lie in [0, 1), got {self.modality_dropout}")
        if not 0.0 <= self.entity_dropout < 1.0:
            raise ConfigError(f"entity_dropout must lie in [0, 1), got {self.entity_dropout}")


log = logging.getLogger(__name__)

# Checkpoints keep the config in their hyperparameters; torch's weights-only loader (the
# default for `realm test --ckpt_path ...`) refuses unknown classes unless declared safe.
torch.serialization.add_safe_globals([RealmConfig])


class RealmModel(RealmTask):
    """The REALM LightningModule (equations in the module docstring).

    Args:
        n_features, n_variables, n_statics: series sizes (linked from the DataModule).
        encoder: time-series encoder class with its hyperparameters.
        config: the core architecture (:class:`RealmConfig`).
        wide_summary, wide_entities, linear_prior, aux_targets: the optional terms
            (realm.models.terms); None leaves a term out.
        node_dim, note_dim, record_dim: widths of a node vector, a note embedding and a
            record embedding (linked from the DataModule's providers).
        summary_factors: factor rows the SummaryProvider appends (linked).
        n_aux_targets: auxiliary target columns of the AuxTargetProvider (linked).
        lr, weight_decay, pos_weight, lr_schedule: optimisation (see RealmTask).
        kg_version, node_embedding_id: filled in from the EntityProvider when training
            starts; a model loaded with them refuses data built on another KG version.
    """

    def __init__(
        self, tasks: list[str], n_features: int, n_variables: int, n_statics: int,
        encoder: EncoderFactory = GRUEncoder, config: RealmConfig = RealmConfig(),
        wide_summary: WideSummaryTerm | None = None, wide_entities: WideEntitiesTerm | None = None,
        linear_prior: LinearPriorTerm | None = None, aux_targets: AuxTargetsHead | None = None,
        node_dim: int = 128, note_dim: int = 384, record_dim: int = 384, summary_factors: int = 0,
        n_aux_targets: int = 0,
        kg_version: str | None = None, node_embedding_id: str | None = None,
        lr: float = 1e-3, weight_decay: float = 1e-4, pos_weight: list[float] | None = None,
        lr_schedule: LRSchedule = "constant",
    ) -> None:
        super().__init__(tasks, lr=lr, weight_decay=weight_decay, pos_weight=pos_weight,
                         lr_schedule=lr_schedule)
        config.check()
        if wide_entities is not None and not config.use_entities:
            raise ConfigError("wide_entities needs config.use_entities")
        self.save_hyperparameters(ignore=["encoder"])
        self.config = config
        self.kg_version, self.node_embedding_id = kg_version, node_embedding_id
        c, h, k = config, config.hidden, len(self.tasks)
        # Construction order fixes which random numbers each layer's initial weights get:
        # keep it, or seeded runs stop reproducing earlier numbers.
        self.encoder = encoder(n_features, n_variables, n_statics)
        self.ts_tokens = nn.Linear(self.encoder.out_dim, h)
        self.stats = StatsEncoder(n_features, n_variables, h, c.dropout) if c.use_stats else None
        self.wide = (wide_summary.build(*summary_shape(summary_factors), n_statics, k)
                     if wide_summary is not None else None)
        self.wide_entities = wide_entities.build(node_dim, k, c.dropout) if wide_entities is not None else None
        self.prior = (linear_prior.build(k, c.use_entities, summary_factors)
                      if linear_prior is not None else None)
        self.reads_summary = self.wide is not None or (self.prior is not None and self.prior.summary != "none")
        self.ts_summary = nn.Linear(h + self.encoder.out_dim + h * int(c.use_stats), h)
        self.entities = EntityEncoder(node_dim, N_ENTITY_TYPES, h, c.heads, c.set_layers, c.dropout)
        # only built when read: DDP refuses parameters that never reach the loss
        self.notes = nn.Sequential(nn.Linear(note_dim, h), nn.LayerNorm(h)) if c.use_notes else None
        self.record = nn.Sequential(nn.Linear(record_dim, h), nn.LayerNorm(h)) if c.use_record else None
        if c.fusion == "cross_attention":
            self.ts_reads = CrossBlock(h, c.heads, c.dropout)  # time steps -> entities, notes
            self.ent_reads = CrossBlock(h, c.heads, c.dropout)  # entities -> time steps
            self.note_reads = CrossBlock(h, c.heads, c.dropout)  # notes -> time steps
            self.gate = ModalityGate(h, len(MODALITIES))
        else:
            self.concat = nn.Sequential(nn.Linear(h * len(MODALITIES), h), nn.GELU())
        self.pool = nn.ModuleDict({m: AttentionPool(h, c.heads) for m in MODALITIES})
        self.norm = nn.LayerNorm(h)
        self.head = MultitaskHead(h, k, c.dropout)
        self.aux_targets = aux_targets
        self.aux_head = aux_targets.build(h, n_aux_targets) if aux_targets is not None else None
        self._aux_pred: Tensor | None = None  # the last forward pass's auxiliary predictions

    # -- inputs ----------------------------------------------------------------------------
    def _sets(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Entity tokens (B, E, H) + mask (B, E); note tokens (B, N, H) + mask (B, N)."""
        b, c, h = batch["statics"].shape[0], self.config, self.config.hidden
        empty = batch["statics"].new_zeros(b, 1, h), torch.zeros(b, 1, dtype=torch.bool,
                                                                   device=batch["statics"].device)
        ent, ent_mask = empty
        if c.use_entities:
            missing = [k for k in ENTITY_KEYS if k not in batch]
            if missing:
                raise ConfigError(f"use_entities needs batch keys {missing}: add "
                                  "realm.features.entities.EntityProvider to data.extra_modalities")
            check_finite(batch, ("entities_vectors", "entities_numbers"))
            ent_mask = batch["entities_mask"]
            ent = self.entities(batch["entities_vectors"], batch["entities_type"],
                                batch["entities_assertion"], batch["entities_numbers"], ent_mask)
        notes, note_mask = empty
        if c.use_notes:
            if any(k not in batch for k in NOTE_KEYS):
                raise ConfigError("use_notes needs batch keys notes_emb, notes_mask: add "
                                  "realm.features.notes.NoteEmbeddingProvider to data.extra_modalities")
            check_finite(batch, ("notes_emb",))
            note_mask = batch["notes_mask"]
            notes = self.notes(batch["notes_emb"])  # (B, N, H)
        if self.record is not None:
            if RECORD_KEY not in batch:
                raise ConfigError("use_record needs batch key record_vector: add "
                                  "realm.features.record.RecordVectorProvider to data.extra_modalities")
            check_finite(batch, (RECORD_KEY,))
            token = self.record(batch[RECORD_KEY])[:, None]  # (B, 1, H)
            present = torch.ones(b, 1, dtype=torch.bool, device=token.device)
            notes, note_mask = ((torch.cat([notes, token], 1), torch.cat([note_mask, present], 1))
                                if c.use_notes else (token, present))
        if self.training and c.entity_dropout > 0 and c.use_entities:
            kept = ent_mask & (torch.rand(ent_mask.shape, device=ent.device) >= c.entity_dropout)
            # a stay whose every token fell keeps its set: emptying sets is modality dropout's job
            ent_mask = torch.where(kept.any(1, keepdim=True), kept, ent_mask)
        if self.training and c.modality_dropout > 0:
            # hide whole sets for a random fraction of stays, entities and notes independently
            keep = torch.rand(b, 2, device=ent.device) >= c.modality_dropout  # (B, 2)
            ent_mask, note_mask = ent_mask & keep[:, :1], note_mask & keep[:, 1:]
        return ent, ent_mask, notes, note_mask

    # -- the model -------------------------------------------------------------------------
    def fuse(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Logits (B, K) plus what explains them: ``gate`` (B, 3), ``ts_to_entities``
        (B, T, E) and ``entity_pool`` (B, E) attention weights, and the entity mask."""
        c, b = self.config, batch["statics"].shape[0]
        states, last = self.encoder(batch["values"], batch["masks"], batch["deltas"],
                                    batch["statics"])  # (B, T, He), (B, He)
        ts = self.ts_tokens(states)  # (B, T, H)
        ts_mask = torch.full(ts.shape[:2], c.use_timeseries, dtype=torch.bool, device=ts.device)
        ent, ent_mask, notes, note_mask = self._sets(batch)
        ts_to_ent = ent.new_zeros(b, ts.shape[1], ent.shape[1])  # (B, T, E)
        if c.fusion == "cross_attention":
            context, context_mask = torch.cat([ent, notes], 1), torch.cat([ent_mask, note_mask], 1)
            ts_new, weights = self.ts_reads(ts, context, context_mask)  # (B, T, H), (B, T, E + N)
            ts_to_ent = weights[:, :, : ent.shape[1]]
            ent, _ = self.ent_reads(ent, ts, ts_mask)  # (B, E, H)
            notes, _ = self.note_reads(notes, ts, ts_mask)  # (B, N, H)
            ts = ts_new
        ts_pooled, _ = self.pool["timeseries"](ts, ts_mask)  # (B, H)
        parts = [ts_pooled, last] + ([self.stats(batch["values"], batch["masks"])] if c.use_stats else [])
        if self.reads_summary:
            if any(k not in batch for k in SUMMARY_KEYS):
                raise ConfigError("the wide summary and the prior on the summary need batch keys "
                                  "summary_values, summary_present: add "
                                  "realm.features.summary.SummaryProvider to data.extra_modalities")
            check_finite(batch, SUMMARY_KEYS)
        s_ts = self.ts_summary(torch.cat(parts, -1)) * float(c.use_timeseries)  # (B, H)
        s_ent, ent_pool = self.pool["entities"](ent, ent_mask)  # (B, H), (B, E)
        s_note, _ = self.pool["notes"](notes, note_mask)  # (B, H)
        summaries = torch.stack([s_ts, s_ent, s_note], 1)  # (B, 3, H)
        present = torch.stack([ts_mask.any(1), ent_mask.any(1), note_mask.any(1)], 1)  # (B, 3)
        if c.fusion == "cross_attention":
            gate = self.gate(summaries, present)  # (B, 3)
            fused = (gate.unsqueeze(-1) * summaries).sum(1)  # (B, H)
        else:
            gate = present.float() / present.float().sum(1, keepdim=True).clamp(min=1)
            fused = self.concat((summaries * present.unsqueeze(-1)).flatten(1))  # (B, H)
        normed = self.norm(fused)  # (B, H)
        logits = self.head(normed)  # (B, K)
        aux = self.aux_head(normed) if self.aux_head is not None else None  # (B, A)
        if self.wide is not None:
            logits = logits + self.wide(batch["summary_values"], batch["summary_present"],
                                        batch["statics"])  # (B, K)
        if self.wide_entities is not None:
            logits = logits + self.wide_entities(batch["entities_vectors"], batch["entities_assertion"],
                                                 ent_mask)  # (B, K)
        if self.prior is not None:
            logits = logits + self.prior(batch)  # (B, K), the raw entity mask: no dropout
        return {"logits": logits, "gate": gate, "ts_to_entities": ts_to_ent,
                "entity_pool": ent_pool, "entity_mask": ent_mask, "aux": aux}

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        out = self.fuse(batch)
        self._aux_pred = out["aux"]  # read by training_step, so the batch is fused once
        return out["logits"]  # (B, K)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        loss = super().training_step(batch, batch_idx)
        if self.wide_entities is not None and self.wide_entities.l2 > 0:
            loss = loss + self.wide_entities.penalty()
        if self.aux_targets is None or self._aux_pred is None:
            return loss
        if AUX_KEY not in batch:
            raise ConfigError("aux_targets needs batch key aux_values: add "
                              "realm.features.aux_targets.AuxTargetProvider to data.extra_modalities")
        target = batch[AUX_KEY]  # (B, A), NaN = no target
        aux = self.aux_targets.mse(self._aux_pred, target)
        self.log("train/aux_mse", aux, batch_size=target.shape[0], on_step=False, on_epoch=True)
        return loss + self.aux_targets.weight * aux

    # -- KG version ------------------------------------------------------------------------
    def check_kg(self, kg_version: str, node_embedding_id: str) -> None:
        """Record the KG of the first data seen; refuse any other KG afterwards."""
        if self.kg_version is None:
            self.kg_version, self.node_embedding_id = kg_version, node_embedding_id
            self.hparams["kg_version"], self.hparams["node_embedding_id"] = kg_version, node_embedding_id
            return
        if kg_version != self.kg_version:
            raise KGError(f"{type(self).__name__} was trained with KG version {self.kg_version}, "
                          f"the data uses KG version {kg_version}; rebuild the entity sets with "
                          "the training KG or retrain the model")
        if node_embedding_id != self.node_embedding_id:
            raise KGError(f"node embeddings {node_embedding_id} differ from those the model was "
                          f"trained with ({self.node_embedding_id}); use the same EntityProvider settings")

    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        for provider in getattr(datamodule, "extra_modalities", []):
            if hasattr(provider, "node_embedding_id"):
                datamodule.setup(stage)  # the provider learns its KG version in setup
                self.check_kg(provider.kg_version, provider.node_embedding_id)
        if stage == "fit" and self.prior is not None and not bool(self.prior.fitted):
            if datamodule is None:
                raise ConfigError("linear_prior is fitted on the train split when training starts: "
                                  "pass a datamodule to Trainer.fit")
            # every process reads the whole train split (not its DDP shard), before the model
            # is wrapped: all ranks fit the same prior
            datamodule.setup(stage)
            self.prior.fit(datamodule.train_dataloader())
            log.info("linear prior fitted on the train split (C per task: %s)", self.prior.penalty_c)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["realm_kg"] = {"kg_version": self.kg_version,
                                  "node_embedding_id": self.node_embedding_id}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.notes is None:  # older checkpoints kept an unused note projection
            state = checkpoint.get("state_dict", {})
            for key in [k for k in state if k.startswith("notes.")]:
                del state[key]
        saved = checkpoint.get("realm_kg", {})
        self.kg_version = saved.get("kg_version", self.kg_version)
        self.node_embedding_id = saved.get("node_embedding_id", self.node_embedding_id)
