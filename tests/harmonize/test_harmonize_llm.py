"""The LLM backend with scripted fake chat models (realm.llm.fake): prompts, sampling, voting, caching."""

from __future__ import annotations

from typing import Any

import pytest
from drug_kg import tiny_drug_kg
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from realm.errors import ConfigError, LLMError
from realm.harmonize import UNSURE, LLMBackend, Shot, build_messages, get_task, harmonize
from realm.llm.build import chat_model_from_config
from realm.llm.client import RetryPolicy, TransientFailure
from realm.llm.fake import ScriptedChatModel


def sampler(*replies: Any, default: Any = None) -> ScriptedChatModel:
    """A fake answering ``replies`` in turn, then ``default``, at a sampling temperature."""
    return ScriptedChatModel(responses=list(replies), default=default, temperature=0.7)


def test_prompt_holds_instruction_shots_then_query() -> None:
    task = get_task("route").with_shots([Shot("INTRAVESICAL", "other")], n=3)
    messages = build_messages(task, "PO/NG")
    assert isinstance(messages[0], SystemMessage) and "injectable, oral, rectal" in messages[0].content
    assert [type(m) for m in messages[1:7]] == [HumanMessage, AIMessage] * 3
    assert messages[1].content == "ROUTE: INTRAVESICAL" and messages[2].content == "other"  # user shots first
    assert messages[-1].content == "ROUTE: PO/NG" and len(messages) == 8


def test_zero_shots_and_more_than_ten_rejected() -> None:
    assert len(build_messages(get_task("antibiotic").with_shots([], n=0), "x")) == 2
    with pytest.raises(ConfigError):
        get_task("antibiotic").with_shots([], n=11)


def test_sampled_answers_are_voted(tmp_path) -> None:
    chat = sampler("The route is: Oral.", "oral", "PO", "Injectable", "ORAL")
    concepts = harmonize(["PO/NG"], "route", "llm", chat_model=chat, n_samples=5, cache_root=tmp_path)
    c = concepts[0]
    assert (c.value, c.backend, c.n_answers, c.agreement) == ("oral", "llm", 5, 0.8)
    assert len(chat.asked) == 5


def test_disagreement_across_samples_gives_unsure(tmp_path) -> None:
    chat = sampler("yes", "no", "yes", "no", "unsure")
    c = harmonize(["Mystery Drug"], "antibiotic", "llm", chat_model=chat, n_samples=5,
                  min_agreement=0.6, cache_root=tmp_path)[0]
    assert c.value == UNSURE and c.agreement == pytest.approx(0.4)


def test_out_of_set_replies_are_counted_not_guessed(tmp_path) -> None:
    chat = sampler("intraocular", "banana", "oral")
    c = harmonize(["XYZ"], "route", "llm", chat_model=chat, n_samples=3, cache_root=tmp_path)[0]
    assert c.value == UNSURE and c.n_unparseable == 2


def test_replies_are_cached_by_string_task_model_and_shots(tmp_path) -> None:
    chat = sampler(default="yes")
    first = harmonize(["Cefazolin", "Cefazolin", "Nafcillin"], "antibiotic", "llm", chat_model=chat,
                      n_samples=2, cache_root=tmp_path)
    assert [c.value for c in first] == ["yes", "yes", "yes"] and len(chat.asked) == 4  # 2 distinct x 2 samples
    again = sampler(default="no")
    cached = harmonize(["Cefazolin"], "antibiotic", "llm", chat_model=again, n_samples=2, cache_root=tmp_path)
    assert cached[0].value == "yes" and again.asked == []
    fewer_shots = harmonize(["Cefazolin"], "antibiotic", "llm", chat_model=again, n_samples=2, n_shots=3,
                            cache_root=tmp_path)
    assert fewer_shots[0].value == "no" and len(again.asked) == 2  # another prompt: asked afresh
    uncached = harmonize(["Cefazolin"], "antibiotic", "llm", chat_model=again, n_samples=2, cache=False,
                         cache_root=tmp_path)
    assert uncached[0].value == "no" and len(again.asked) == 4


def test_a_timeout_is_retried_then_answered(tmp_path) -> None:
    chat = sampler({"raise": "timeout"}, default="yes")
    slept: list[float] = []
    backend = LLMBackend(chat, n_samples=2, cache_root=tmp_path, retry=RetryPolicy(retries=2, backoff=0.5),
                         sleep=slept.append)
    c = harmonize(["Cefazolin"], "antibiotic", backends=[backend])[0]
    assert c.value == "yes" and slept == [0.5] and backend.calls == 3


def test_model_failure_is_an_llm_error(tmp_path) -> None:
    timeouts = LLMBackend(sampler(default={"raise": "timeout"}), n_samples=1, cache_root=tmp_path,
                          retry=RetryPolicy(retries=1, backoff=0.0))
    with pytest.raises(TransientFailure, match="TimeoutError"):
        harmonize(["Heparin"], "anticoagulant", backends=[timeouts])
    with pytest.raises(LLMError, match="RuntimeError"):
        harmonize(["Heparin"], "anticoagulant", "llm", chat_model=sampler(default={"raise": "fatal"}),
                  cache_root=tmp_path)


def test_llm_plus_kg_asks_the_llm_only_where_the_kg_is_unsure(tmp_path) -> None:
    chat = sampler(default="Answer: yes")
    out = harmonize(["Ceftriaxone", "Vancomycin", "Metoprolol"], "antibiotic", "llm+kg", kg=tiny_drug_kg(),
                    chat_model=chat, n_samples=3, cache_root=tmp_path)
    assert [(c.value, c.backend) for c in out] == [("yes", "kg"), ("yes", "llm"), ("no", "kg")]
    assert set(chat.asked) == {"DRUG: Vancomycin"}


def test_llm_backend_needs_a_chat_model() -> None:
    with pytest.raises(ConfigError):
        harmonize(["x"], "route", "llm")
    with pytest.raises(ConfigError):
        LLMBackend(object())


def test_llm_config_goes_through_the_shared_builder_and_privacy_check(tmp_path) -> None:
    config = tmp_path / "llm.yaml"
    config.write_text("model:\n  class_path: realm.llm.fake.ScriptedChatModel\n"
                      "  kwargs: {default: oral, temperature: 0.9}\nextractor:\n  max_concurrency: 2\n")
    model = chat_model_from_config(config)
    c = harmonize(["PO"], "route", "llm", chat_model=model, n_samples=3, cache_root=tmp_path)[0]
    assert (c.value, c.agreement) == ("oral", 1.0) and len(model.asked) == 3
    remote = tmp_path / "remote.yaml"
    remote.write_text("model:\n  provider: openai\n  model: gpt-4o\n")
    with pytest.raises(LLMError, match="allow_remote"):  # a hosted endpoint without allow_remote is refused
        chat_model_from_config(remote)
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  no_such_setting: 1\n")
    with pytest.raises(ConfigError, match="no_such_setting"):
        chat_model_from_config(bad)
