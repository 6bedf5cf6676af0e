"""Ctrl-C during an LLM extraction: a clean stop that says what is cached, and a re-run that
resumes from the cache without asking again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from realm.errors import Interrupted
from realm.extract.grounding import chunk_text
from realm.extract.llm import LLMExtractor
from realm.extract.llm_config import LLMExtractorConfig
from realm.llm.fake import ScriptedToolChatModel

NOTES = [f"Day {i}: septic shock on norepinephrine since hour {i}. History of CHF, diagnosed in {2000 + i}."
         for i in range(5)]  # every chunk of every note differs, so asked prompts identify the note
ANSWER = {"entities": [{"text": "CHF", "type": "condition", "assertion": "historical"}]}


def extractor(model: Any, tmp_path: Path, chunk_chars: int) -> LLMExtractor:
    config = LLMExtractorConfig(progress=False, backoff=0.0, max_concurrency=1, chunk_chars=chunk_chars, chunk_overlap=0)
    return LLMExtractor(model, config, cache_root=tmp_path / "cache")


@pytest.mark.parametrize("chunk_chars", [4000, 60])  # one chunk per note, then several
def test_an_interrupted_run_keeps_what_it_cached_and_the_rerun_resumes(tmp_path: Path, chunk_chars: int) -> None:
    per_note = len(chunk_text(NOTES[0], chunk_chars, 0))
    assert (per_note == 1) is (chunk_chars == 4000)
    # two notes answered, then Ctrl-C in the middle of the third
    model = ScriptedToolChatModel(responses=[ANSWER] * (2 * per_note) + [{"raise": "interrupt"}], default=ANSWER)
    ex = extractor(model, tmp_path, chunk_chars)
    with pytest.raises(Interrupted) as stopped:
        ex.extract_many(NOTES)
    assert isinstance(stopped.value, KeyboardInterrupt)  # code that knows nothing of realm still stops
    assert stopped.value.saved == f"{2 * per_note} chunks cached" and len(ex.cache) == 2
    answered = {text for text in model.asked[: 2 * per_note]}

    again = ScriptedToolChatModel(default=ANSWER)
    resumed = extractor(again, tmp_path, chunk_chars)
    out = resumed.extract_many(NOTES)
    assert resumed.stats.cache_hits == 2 and len(again.calls) == 3 * per_note  # the cached notes are not asked again
    assert not answered & set(again.asked)
    assert all(ms and {m.text for m in ms} == {"CHF"} for ms in out)


def test_a_second_interrupted_run_counts_what_the_first_cached(tmp_path: Path) -> None:
    first = ScriptedToolChatModel(responses=[ANSWER, {"raise": "interrupt"}])
    with pytest.raises(Interrupted):
        extractor(first, tmp_path, 4000).extract_many(NOTES)
    second = ScriptedToolChatModel(responses=[ANSWER, {"raise": "interrupt"}])
    with pytest.raises(Interrupted) as stopped:
        extractor(second, tmp_path, 4000).extract_many(NOTES)
    assert stopped.value.saved == "2 chunks cached"  # one from each run: all a re-run will not ask again


def test_without_a_cache_the_interruption_says_nothing_is_kept(tmp_path: Path) -> None:
    model = ScriptedToolChatModel(responses=[ANSWER, {"raise": "interrupt"}])
    config = LLMExtractorConfig(progress=False, backoff=0.0, max_concurrency=1, cache=False)
    with pytest.raises(Interrupted) as stopped:
        LLMExtractor(model, config).extract_many(NOTES)
    assert stopped.value.saved == "nothing cached (cache off)"
