"""Serialized patient records as text embeddings, then a linear probe (Hegselmann et al. 2025).

A stay is serialized (:mod:`realm.features.serialize`), prefixed with a task instruction and
embedded by any :class:`~realm.kg.embedders.TextEmbedder`: the packaged MiniLM (float or
int8 ONNX), a LangChain ``Embeddings`` (OpenAI, Ollama, an instruction-tuned GTE-Qwen2 server)
or a local Hugging Face encoder through :class:`~realm.features.notes.HFNoteEncoder`.

Vectors are cached per (serialized text, embedder id, instruction), so a changed record,
model or instruction never reuses a stale vector. ``realm bench serialize`` scores them with a
logistic-regression probe (realm.bench.serialize.probe_task).
:class:`RecordVectorProvider` hands them to the REALM DataModule as an extra modality.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from realm.cache import atomic_path, config_hash, stage_dir
from realm.data.cohort import Cohort
from realm.data.dataset import ModalityProvider
from realm.extract.mentions_table import mentions_meta
from realm.errors import ConfigError, DataError
from realm.kg.embedders import EMBEDDERS, LangChainEmbedder, TextEmbedder, get_embedder
from realm.kg.graph import KnowledgeGraph
from realm.features.serialize import FORMATS, Format, serialize_stay

__all__ = ["RecordEncoder", "as_embedder", "RecordVectorProvider",
           "DEFAULT_INSTRUCTION", "load_mentions"]

log = logging.getLogger(__name__)

DEFAULT_INSTRUCTION = "Represent this ICU patient record for predicting the patient's outcome"
#: How an instruction-tuned embedder (GTE-Qwen2, E5-instruct) expects a query to be written.
DEFAULT_TEMPLATE = "Instruct: {instruction}\nQuery: {text}"


def as_embedder(model: Any) -> TextEmbedder:
    """A :class:`TextEmbedder` from a name in ``EMBEDDERS``, a Hugging Face model name or
    folder, a LangChain ``Embeddings``, or an object that already is one."""
    if isinstance(model, str):
        if model in EMBEDDERS:
            return get_embedder(model)
        from realm.features.notes import HFNoteEncoder

        return HFNoteEncoder(model, pooling="mean")
    if isinstance(model, TextEmbedder):
        return model
    if hasattr(model, "embed_documents"):
        model_id = str(getattr(model, "model", None) or getattr(model, "model_name", None)
                       or type(model).__name__)
        return LangChainEmbedder(model, model_id=model_id)
    raise ConfigError(f"{type(model).__name__} is neither a TextEmbedder, a LangChain Embeddings "
                      f"nor a model name; embedder names: {sorted(EMBEDDERS)}")


def load_mentions(path: str | Path) -> pd.DataFrame:
    """A mentions table from Parquet or CSV (``note_id`` read as text, as in notes.parquet);
    one written by ``realm extract`` must still match its ``mentions_meta.json``."""
    path = Path(path)
    if not path.is_file():
        raise DataError("mentions table not found", path=path)
    mentions_meta(path)
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype={"note_id": str})
    if "note_id" in frame.columns:
        frame["note_id"] = frame["note_id"].astype("string")
    return frame


def _save_array(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, tmp.open("wb") as fh:  # np.save(path) would add ".npy"
        np.save(fh, array)


class RecordEncoder:
    """Serialize stays, embed them with an instruction, cache the vectors.

    Args:
        embedder: a TextEmbedder, a LangChain Embeddings, an embedder name or a HF model.
        instruction: the task instruction written before the record ("" for none).
        fmt: serialization format, ``list`` (the paper found it as good as markdown) or ``markdown``.
        token_budget: tokens the record may take (counted with the embedder's tokenizer when
            it exposes one as ``.tokenizer``, else approximated from words).
        template: how instruction and record are joined.
        cache_dir: cache root; default ``$REALM_CACHE`` or ``~/.cache/realm``.
    """

    def __init__(
        self,
        embedder: Any,
        instruction: str = DEFAULT_INSTRUCTION,
        fmt: Format = "list",
        token_budget: int | None = 512,
        template: str = DEFAULT_TEMPLATE,
        cache_dir: str | None = None,
    ) -> None:
        if fmt not in FORMATS:
            raise ConfigError(f"unknown serialization format {fmt!r}; choose one of {FORMATS}")
        if "{text}" not in template or "{instruction}" not in template:
            raise ConfigError("template must contain {instruction} and {text}")
        self.embedder = as_embedder(embedder)
        self.instruction = instruction
        self.fmt = fmt
        self.token_budget = token_budget
        self.template = template
        self.cache_dir = cache_dir
        key = config_hash(self.embedder.model_id, instruction, template if instruction else "")
        self._cache = stage_dir("record_vectors", key, cache_dir)

    def texts(
        self,
        cohort: Cohort,
        stay_ids: Sequence[int] | None = None,
        *,
        kg: KnowledgeGraph | None = None,
        mentions: pd.DataFrame | None = None,
        medications: pd.DataFrame | None = None,
    ) -> list[str]:
        """The serialized records of ``stay_ids`` (default: every stay), in order."""
        ids = list(cohort.stays["stay_id"]) if stay_ids is None else list(stay_ids)
        tokenizer = getattr(self.embedder, "tokenizer", None)
        return [serialize_stay(cohort, int(s), fmt=self.fmt, token_budget=self.token_budget, kg=kg,
                               mentions=mentions, medications=medications, tokenizer=tokenizer)
                for s in ids]

    def encode_texts(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """(N, dim) float32 vectors of serialized records, read from the cache where present."""
        full = [self.template.format(instruction=self.instruction, text=t) if self.instruction else t
                for t in texts]
        files = [self._cache / f"{hashlib.sha256(t.encode()).hexdigest()[:32]}.npy" for t in full]
        out = np.zeros((len(full), self.embedder.dim), dtype=np.float32)
        missing = []
        for i, f in enumerate(files):
            if f.is_file():
                out[i] = np.load(f)
            else:
                missing.append(i)
        if missing:
            log.info("embedding %d of %d records with %s", len(missing), len(full), self.embedder.model_id)
            vectors = self.embedder.embed([full[i] for i in missing], batch_size=batch_size)
            for i, vector in zip(missing, vectors):
                out[i] = vector
                _save_array(files[i], np.asarray(vector, dtype=np.float32))
        return out

    def encode_cohort(
        self,
        cohort: Cohort,
        stay_ids: Sequence[int] | None = None,
        *,
        kg: KnowledgeGraph | None = None,
        mentions: pd.DataFrame | None = None,
        medications: pd.DataFrame | None = None,
    ) -> np.ndarray:
        """(N, dim) vectors of ``stay_ids`` (default: every stay in ``cohort.stays`` order)."""
        return self.encode_texts(self.texts(cohort, stay_ids, kg=kg, mentions=mentions, medications=medications))


# -- the REALM modality ---------------------------------------------------------------------------
class RecordVectorProvider(ModalityProvider):
    """The serialized-record embedding of each stay as a DataModule modality.

    Adds ``record_vector`` (B, dim) float32 to each batch. Named in YAML under
    ``data.init_args.extra_modalities``.

    Args:
        embedder: an embedder name (``onnx``, ``minilm``, ``hashing``) or a HF model name/folder.
        instruction: the task instruction written before each record.
        fmt: ``list`` or ``markdown``.
        token_budget: tokens each record may take.
        kg: a KG spec (name or YAML) to name linked entities; None writes mention text.
        mentions: a mentions table (Parquet/CSV) with the cohort's linked entities.
        cache_dir: cache root.
    """

    name = "record"

    def __init__(
        self,
        embedder: str = "onnx",
        instruction: str = DEFAULT_INSTRUCTION,
        fmt: Format = "list",
        token_budget: int | None = 256,
        kg: str | None = None,
        mentions: str | None = None,
        cache_dir: str | None = None,
    ) -> None:
        self.encoder_args = dict(embedder=embedder, instruction=instruction, fmt=fmt,
                                 token_budget=token_budget, cache_dir=cache_dir)
        self.kg, self.mentions = kg, mentions
        self._rows: dict[int, int] = {}
        self._vectors: Tensor | None = None

    @property
    def dim(self) -> int:
        """Width of a record vector (linked into ``RealmModel.record_dim``)."""
        return int(as_embedder(self.encoder_args["embedder"]).dim)

    def setup(self, cohort_dir: Path, stay_ids: np.ndarray) -> None:
        encoder = RecordEncoder(**self.encoder_args)  # built here: __init__ does no I/O
        cohort = Cohort.load(cohort_dir, tables=("events", "notes"))
        kg = None
        if self.kg is not None:
            from realm.kg.spec import load_kg

            kg = load_kg(self.kg, progress=False)
        mentions = load_mentions(self.mentions) if self.mentions else None
        ids = [int(s) for s in stay_ids]
        self._vectors = torch.from_numpy(encoder.encode_cohort(cohort, ids, kg=kg, mentions=mentions))
        self._rows = {s: i for i, s in enumerate(ids)}

    def get(self, stay_ids: list[int]) -> dict[str, Tensor]:
        if self._vectors is None:
            raise ConfigError("RecordVectorProvider.get called before setup")
        try:
            rows = [self._rows[int(s)] for s in stay_ids]
        except KeyError as exc:
            raise DataError(f"stay {exc.args[0]} was not set up", field="stay_id") from None
        return {"vector": self._vectors[rows]}  # (B, dim)
