"""LLMExtractor with scripted chat models: formats, repair, grounding, retries, chunks, cache, privacy."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from realm.errors import ConfigError, ExtractionError, LLMError
from realm.extract.llm import LLMExtractor
from realm.extract.llm_config import LLMExtractorConfig, load_llm_config
from realm.llm.fake import ScriptedChatModel, ScriptedToolChatModel
from realm.records import Assertion

NOTE = "Admitted with septic shock. No pneumonia. History of CHF. Started norepinephrine."


def entity(text: str, type_: str = "condition", assertion: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"text": text, "type": type_}
    if assertion is not None:
        out["assertion"] = assertion
    return out


def config(**changes: Any) -> LLMExtractorConfig:
    return LLMExtractorConfig(progress=False, **{"backoff": 0.0, **changes})


def extractor(model: Any, tmp_path: Path, **changes: Any) -> LLMExtractor:
    return LLMExtractor(model, config(**changes), cache_root=tmp_path / "cache")


def test_structured_output_gives_grounded_typed_asserted_mentions(tmp_path: Path) -> None:
    answer = {"entities": [entity("septic shock", assertion="present"), entity("pneumonia"),
                           entity("CHF", assertion="historical"), entity("norepinephrine", "drug")]}
    model = ScriptedToolChatModel(responses=[answer])
    ex = extractor(model, tmp_path)
    assert ex.client.method == "tools"
    mentions = ex.extract(NOTE, note_id="n1", stay_id=7)
    got = [(m.text, m.type, m.assertion) for m in mentions]
    assert got == [
        ("septic shock", "disease", Assertion.PRESENT),
        ("pneumonia", "disease", Assertion.NEGATED),  # no assertion given: ConText reads "No"
        ("CHF", "disease", Assertion.HISTORICAL),
        ("norepinephrine", "drug", Assertion.PRESENT),
    ]
    assert all(m.extractor == "llm" and m.note_id == "n1" and m.stay_id == 7 for m in mentions)
    assert all(m.is_grounded_in(NOTE) for m in mentions)
    assert ex.stats.assertion_from_context == 2 and ex.stats.calls == 1
    assert len(model.calls) == 1 and "Clinical note" in str(model.calls[0][-1].content)


def test_invalid_json_is_repaired_once(tmp_path: Path) -> None:
    model = ScriptedChatModel(responses=['{"entities": [{"text": "septic shock", "type": ', '[{"text": "septic shock", "type": "condition"},]'])
    ex = extractor(model, tmp_path)
    assert ex.client.method == "text"
    mentions = ex.extract(NOTE)
    assert [m.text for m in mentions] == ["septic shock"]
    assert len(model.calls) == 2 and ex.stats.repairs == 1 and ex.stats.unusable_answers == 0
    repair = model.calls[1][-1].content
    assert "could not be used" in repair and "septic" not in repair


def test_answer_unusable_after_repair_is_counted_and_cached(tmp_path: Path) -> None:
    model = ScriptedChatModel(responses=["I cannot help with that.", "Still no JSON."])
    ex = extractor(model, tmp_path)
    assert ex.extract(NOTE) == []
    assert ex.stats.unusable_answers == 1 and ex.stats.repairs == 1
    again = ScriptedChatModel(responses=[])
    ex2 = extractor(again, tmp_path)
    assert ex2.extract(NOTE) == [] and again.calls == [] and ex2.stats.cache_hits == 1


def test_hallucinated_entity_is_dropped_and_counted(tmp_path: Path) -> None:
    model = ScriptedToolChatModel(responses=[{"entities": [entity("septic shock"), entity("myocardial infarction"),
                                                          entity("Septic  Shock")]}])
    ex = extractor(model, tmp_path)
    mentions = ex.extract(NOTE)
    assert [m.text for m in mentions] == ["septic shock"]
    assert ex.stats.hallucinations == 1 and ex.stats.entities == 3 and ex.stats.duplicates == 1


@pytest.mark.parametrize("answer", ["", '{"entities": []}', "[]"])
def test_empty_answer_means_no_mentions(tmp_path: Path, answer: str) -> None:
    ex = extractor(ScriptedChatModel(responses=[answer]), tmp_path)
    assert ex.extract(NOTE) == []
    assert ex.stats.empty_answers == 1 and ex.stats.unusable_answers == 0 and ex.stats.repairs == 0


def test_timeouts_are_retried_with_exponential_backoff(tmp_path: Path) -> None:
    model = ScriptedToolChatModel(responses=[{"raise": "timeout"}, {"raise": "connection"}, {"entities": [entity("CHF")]}])
    slept: list[float] = []
    ex = LLMExtractor(model, config(backoff=0.01, retries=3), cache_root=tmp_path, sleep=slept.append)
    assert [m.text for m in ex.extract(NOTE)] == ["CHF"]
    assert slept == [0.01, 0.02] and ex.stats.retries == 2 and ex.stats.failed_chunks == 0


def test_timeouts_past_the_retries_count_as_failures_and_are_not_cached(tmp_path: Path) -> None:
    model = ScriptedToolChatModel(by_substring={"septic": {"raise": "timeout"}}, default={"entities": []})
    slept: list[float] = []
    ex = LLMExtractor(model, config(backoff=0.001, retries=1, max_failed_share=0.5, max_concurrency=1),
                      cache_root=tmp_path, sleep=slept.append)
    assert ex.extract_many([NOTE, "Quiet night."]) == [[], []]
    assert ex.stats.failed_chunks == 1 and slept == [0.001] and ex.stats.calls == 3
    retry = ScriptedToolChatModel(responses=[{"entities": [entity("CHF")]}])
    assert [m.text for m in LLMExtractor(retry, config(), cache_root=tmp_path).extract(NOTE)] == ["CHF"]
    assert len(retry.calls) == 1  # asked again: the failure was not cached


@pytest.mark.parametrize("share", [0.1, 1.0])
def test_a_run_whose_chunks_all_fail_is_an_error_with_the_counts(tmp_path: Path, share: float) -> None:
    # before: every chunk failed, the run returned no mentions and passed for an empty result
    model = ScriptedToolChatModel(default={"raise": "timeout"})
    ex = LLMExtractor(model, config(retries=1, max_failed_share=share), cache_root=tmp_path, sleep=lambda s: None)
    with pytest.raises(ExtractionError, match=r"2 of 2 chunks got no answer.*2/2 chunks failed") as caught:
        ex.extract_many([NOTE, "Quiet night."])
    assert "septic" not in str(caught.value)


def test_more_failed_chunks_than_the_share_allows_is_an_error(tmp_path: Path) -> None:
    model = ScriptedToolChatModel(by_substring={"septic": {"raise": "timeout"}}, default={"entities": []})
    ex = LLMExtractor(model, config(retries=0, max_failed_share=0.4), cache_root=tmp_path)
    with pytest.raises(ExtractionError, match="1 of 2 chunks"):
        ex.extract_many([NOTE, "Quiet night."])


def test_a_non_transient_error_stops_the_run(tmp_path: Path) -> None:
    ex = extractor(ScriptedToolChatModel(responses=[{"raise": "fatal"}]), tmp_path)
    with pytest.raises(LLMError, match="RuntimeError"):
        ex.extract(NOTE)


class Vocabulary(ScriptedToolChatModel):
    """A perfect model: names every vocabulary word present in the prompt's note chunk."""

    words: list[str] = []

    def _pick(self, messages: Any) -> Any:
        with self._lock:
            self._calls.append(list(messages))
        prompt = str(messages[-1].content)
        return {"entities": [entity(w) for w in self.words if w in prompt]}


def test_long_note_is_chunked_and_an_entity_on_the_boundary_is_found_once(tmp_path: Path) -> None:
    # no sentence ends: the cut falls inside the words, and the overlap must save the entity
    filler = " ".join(["stable overnight"] * 40)
    note = filler[:584] + " acute kidney injury " + filler + " septic shock"  # entity at 585..604
    model = Vocabulary(words=["acute kidney injury", "septic shock"])
    ex = extractor(model, tmp_path, chunk_chars=600, chunk_overlap=150)
    mentions = ex.extract(note)
    assert ex.stats.chunks >= 3 and len(model.calls) == ex.stats.chunks
    first_chunk = next(str(c[-1].content) for c in model.calls if "part 1 of" in str(c[-1].content))
    assert "acute kidney" in first_chunk and "acute kidney injury" not in first_chunk  # really cut
    assert [m.text for m in mentions] == ["acute kidney injury", "septic shock"]
    assert mentions[0].spans == ((note.index("acute kidney injury"), note.index("acute kidney injury") + 19),)


def test_entity_in_the_overlap_is_deduplicated(tmp_path: Path) -> None:
    sentences = [f"Day {i} the patient remained stable on the ward." for i in range(30)]
    sentences[11] = "Known sepsis."
    note = " ".join(sentences)
    model = Vocabulary(words=["sepsis"])
    ex = extractor(model, tmp_path, chunk_chars=600, chunk_overlap=200)
    mentions = ex.extract(note)
    assert sum("sepsis" in str(c[-1].content) for c in model.calls) == 2  # seen by two chunks
    assert [m.text for m in mentions] == ["sepsis"] and ex.stats.duplicates == 1


def test_second_run_is_served_from_the_cache(tmp_path: Path) -> None:
    notes = [NOTE, "Intubated for ARDS.", NOTE]  # a repeated note is asked once
    model = Vocabulary(words=["septic shock", "ARDS"])
    first = extractor(model, tmp_path).extract_many(notes, note_ids=["a", "b", "c"], stay_ids=[1, 2, 3])
    assert len(model.calls) == 2
    again = Vocabulary(words=["septic shock", "ARDS"])
    ex = extractor(again, tmp_path)
    second = ex.extract_many(notes, note_ids=["a", "b", "c"], stay_ids=[1, 2, 3])
    assert again.calls == [] and ex.stats.cache_hits == 2
    assert second == first and [m.note_id for m in second[2]] == ["c"]
    other_prompt = extractor(Vocabulary(words=[]), tmp_path, task="sepsis onset")
    assert other_prompt.cache.key != ex.cache.key


def test_interrupted_run_resumes_where_it_stopped(tmp_path: Path) -> None:
    notes = [f"Note {i}: septic shock on day {i}." for i in range(5)]
    ok = {"entities": [entity("septic shock")]}
    crashing = ScriptedToolChatModel(responses=[ok, ok, {"raise": "fatal"}, ok, ok])
    with pytest.raises(LLMError):
        extractor(crashing, tmp_path, max_concurrency=1).extract_many(notes)
    assert len(crashing.calls) == 3
    resumed = ScriptedToolChatModel(default=ok)
    ex = extractor(resumed, tmp_path, max_concurrency=2)
    out = ex.extract_many(notes)
    assert len(resumed.calls) == 3 and ex.stats.cache_hits == 2
    assert [[m.text for m in ms] for ms in out] == [["septic shock"]] * 5


# -- privacy --------------------------------------------------------------------------------


class UrlModel(ScriptedToolChatModel):
    base_url: str = "http://127.0.0.1:8000/v1"


def test_remote_base_url_is_refused_before_any_call(tmp_path: Path) -> None:
    model = UrlModel(base_url="https://api.example.com/v1", default={"entities": []})
    with pytest.raises(LLMError, match="allow_remote"):
        LLMExtractor(model, config(), cache_root=tmp_path)
    assert model.calls == []
    assert LLMExtractor(model, config(), cache_root=tmp_path, allow_remote=True).extract(NOTE) == []
    assert LLMExtractor(model, config(), cache_root=tmp_path, local_hosts=["api.example.com"]).extract(NOTE) == []


def test_loopback_base_url_is_accepted(tmp_path: Path) -> None:
    # the extractor probes a local server before its first call: something must listen there
    with socket.create_server(("127.0.0.1", 0)) as server:
        model = UrlModel(base_url=f"http://127.0.0.1:{server.getsockname()[1]}/v1", responses=[{"entities": [entity("CHF")]}])
        assert [m.text for m in LLMExtractor(model, config(), cache_root=tmp_path).extract(NOTE)] == ["CHF"]


# -- config ----------------------------------------------------------------------------------


def test_config_file_builds_the_extractor_with_the_model_id_as_cache_key(tmp_path: Path) -> None:
    path = tmp_path / "llm.yaml"
    path.write_text("model:\n  class_path: realm.llm.fake.ScriptedToolChatModel\n"
                    "  kwargs: {default: {entities: [{text: CHF, type: condition}]}}\n"
                    "extractor:\n  chunk_chars: 2000\n  backoff: 0\n")
    cfg = load_llm_config(path, progress=False)
    assert cfg.extractor.chunk_chars == 2000 and cfg.extractor.progress is False
    ex = LLMExtractor.from_config(cfg, cache_root=tmp_path)
    assert ex.model_id == "realm.llm.fake.ScriptedToolChatModel" and ex.client.method == "tools"
    assert [m.text for m in ex.extract(NOTE)] == ["CHF"]


@pytest.mark.parametrize(("text", "key"), [
    ("model: {class_path: x.Y}\nextractor: {chunk_size: 10}\n", "chunk_size"),
    ("model: {class_path: x.Y}\nextractor: {structured: xml}\n", "structured"),
    ("model: {class_path: x.Y}\nextractor: {max_concurrency: 0}\n", "max_concurrency"),
    ("model: {class_path: x.Y}\nextracter: {}\n", "extracter"),
    ("extractor: {}\n", "model"),
])
def test_config_file_errors_name_the_file_and_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=key) as caught:
        load_llm_config(path)
    assert str(path) in str(caught.value)
