"""The LLM backend with scripted fake chat models: prompts, sampling, voting, caching."""

from __future__ import annotations

import pytest
from harmonize_fakes import ScriptedChat, cycle, tiny_drug_kg
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from realm.errors import ConfigError, LLMError
from realm.harmonize import UNSURE, LLMBackend, Shot, build_messages, chat_model_from_config, get_task, harmonize


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
    chat = ScriptedChat(script=cycle("The route is: Oral.", "oral", "PO", "Injectable", "ORAL"))
    concepts = harmonize(["PO/NG"], "route", "llm", chat_model=chat, n_samples=5, cache_root=tmp_path)
    c = concepts[0]
    assert (c.value, c.backend, c.n_answers, c.agreement) == ("oral", "llm", 5, 0.8)
    assert len(chat.asked) == 5


def test_disagreement_across_samples_gives_unsure(tmp_path) -> None:
    chat = ScriptedChat(script=cycle("yes", "no", "yes", "no", "unsure"))
    c = harmonize(["Mystery Drug"], "antibiotic", "llm", chat_model=chat, n_samples=5,
                  min_agreement=0.6, cache_root=tmp_path)[0]
    assert c.value == UNSURE and c.agreement == pytest.approx(0.4)


def test_out_of_set_replies_are_counted_not_guessed(tmp_path) -> None:
    chat = ScriptedChat(script=cycle("intraocular", "banana", "oral"))
    c = harmonize(["XYZ"], "route", "llm", chat_model=chat, n_samples=3, cache_root=tmp_path)[0]
    assert c.value == UNSURE and c.n_unparseable == 2


def test_replies_are_cached_by_string_task_model_and_shots(tmp_path) -> None:
    chat = ScriptedChat(script=cycle("yes"))
    first = harmonize(["Cefazolin", "Cefazolin", "Nafcillin"], "antibiotic", "llm", chat_model=chat,
                      n_samples=2, cache_root=tmp_path)
    assert [c.value for c in first] == ["yes", "yes", "yes"] and len(chat.asked) == 4  # 2 distinct x 2 samples
    again = ScriptedChat(script=cycle("no"))
    cached = harmonize(["Cefazolin"], "antibiotic", "llm", chat_model=again, n_samples=2, cache_root=tmp_path)
    assert cached[0].value == "yes" and again.asked == []
    fewer_shots = harmonize(["Cefazolin"], "antibiotic", "llm", chat_model=again, n_samples=2, n_shots=3,
                            cache_root=tmp_path)
    assert fewer_shots[0].value == "no" and len(again.asked) == 2  # another prompt: asked afresh


def test_model_failure_is_an_llm_error(tmp_path) -> None:
    def broken(_query: str, _i: int) -> str:
        raise TimeoutError("model server did not answer")

    with pytest.raises(LLMError, match="TimeoutError"):
        harmonize(["Heparin"], "anticoagulant", "llm", chat_model=ScriptedChat(script=broken), cache_root=tmp_path)


def test_llm_plus_kg_asks_the_llm_only_where_the_kg_is_unsure(tmp_path) -> None:
    chat = ScriptedChat(script=cycle("Answer: yes"))
    out = harmonize(["Ceftriaxone", "Vancomycin", "Metoprolol"], "antibiotic", "llm+kg", kg=tiny_drug_kg(),
                    chat_model=chat, n_samples=3, cache_root=tmp_path)
    assert [(c.value, c.backend) for c in out] == [("yes", "kg"), ("yes", "llm"), ("no", "kg")]
    assert set(chat.asked) == {"DRUG: Vancomycin"}


def test_llm_backend_needs_a_chat_model() -> None:
    with pytest.raises(ConfigError):
        harmonize(["x"], "route", "llm")
    with pytest.raises(ConfigError):
        LLMBackend(object())  # type: ignore[arg-type]


def test_llm_config_goes_through_the_shared_builder_and_privacy_check(tmp_path) -> None:
    config = tmp_path / "llm.yaml"
    config.write_text("model:\n  class_path: harmonize_fakes.ScriptedChat\n  kwargs: {temperature: 0.9}\n")
    model = chat_model_from_config(config)
    c = harmonize(["PO"], "route", "llm", chat_model=model, n_samples=3, cache_root=tmp_path)[0]
    assert (c.value, c.agreement) == ("oral", 1.0) and len(model.asked) == 3
    remote = tmp_path / "remote.yaml"
    remote.write_text("model:\n  provider: openai\n  model: gpt-4o\n")
    with pytest.raises((LLMError, ConfigError)):  # a hosted endpoint without allow_remote is refused
        chat_model_from_config(remote)
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  no_such_setting: 1\n")
    with pytest.raises(ConfigError):
        chat_model_from_config(bad)
