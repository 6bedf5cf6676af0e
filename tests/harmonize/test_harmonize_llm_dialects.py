"""The LLM harmonization backend through LangChain's OpenAI client against a loopback fake
server (tests/llm_dialects.py): the same client as extraction, so the same loud errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from realm.errors import LLMError
from realm.harmonize import harmonize
from tests.llm_dialects import chat_model, serving


@pytest.mark.parametrize("dialect", ["vllm", "llamacpp"])
def test_the_llm_backend_answers_through_a_server(dialect: str, tmp_path: Path) -> None:
    with serving(dialect, plain="oral") as server:
        concept = harmonize(["PO/NG"], "route", "llm", chat_model=chat_model(server), n_samples=1,
                            cache_root=tmp_path)[0]
    assert (concept.value, concept.backend, concept.n_answers) == ("oral", "llm", 1)
    assert server.seen == ["text"]  # no schema: plain text, nothing to negotiate


def test_a_server_error_stops_harmonization_with_status_and_endpoint(tmp_path: Path) -> None:
    with serving("tgi", fail_all=422, echo=True) as server:
        with pytest.raises(LLMError, match="HTTP 422") as caught:
            harmonize(["Vancomycin 1g IV"], "route", "llm", chat_model=chat_model(server), n_samples=1,
                      cache_root=tmp_path)
        assert server.url in str(caught.value) and "Vancomycin" not in str(caught.value)
        assert server.seen == ["text"]
