"""realm.llm.config: the model section of an LLM config YAML, and errors that name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from realm.errors import ConfigError
from realm.llm.config import ChatModelConfig, load_chat_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "llm.yaml"
    path.write_text(text)
    return path


def test_the_model_section_is_read_and_the_other_sections_left_to_their_stages(tmp_path: Path) -> None:
    path = write(tmp_path, "model:\n  provider: openai\n  model: qwen\n  base_url: http://127.0.0.1:8000/v1\n"
                           "  local_hosts: [gpu.hospital.org]\n  kwargs: {seed: 1}\nextractor:\n  chunk_chars: 10\n")
    cfg = load_chat_config(path)
    assert cfg == ChatModelConfig(provider="openai", model="qwen", base_url="http://127.0.0.1:8000/v1",
                                  local_hosts=("gpu.hospital.org",), kwargs={"seed": 1})
    assert cfg.model_id() == "openai:qwen@http://127.0.0.1:8000/v1"


def test_a_file_holding_the_section_alone_is_read_whole(tmp_path: Path) -> None:
    # its `model:` is the model's name, not the section
    cfg = load_chat_config(write(tmp_path, "provider: ollama\nmodel: llama3.1:8b\ntemperature: 0.7\n"))
    assert (cfg.provider, cfg.model, cfg.temperature) == ("ollama", "llama3.1:8b", 0.7)


def test_class_path_alone_is_a_setting_not_an_instruction(tmp_path: Path) -> None:
    cfg = load_chat_config(write(tmp_path, "model:\n  class_path: mypackage.MyChatModel\n"))
    assert cfg.class_path == "mypackage.MyChatModel" and cfg.model_id() == "mypackage.MyChatModel"


@pytest.mark.parametrize(("text", "key"), [
    ("model:\n  no_such_setting: 1\n", "no_such_setting"),
    ("model:\n  temperature: warm\n", "temperature"),
    ("model:\n  local_hosts: 3\n", "local_hosts"),
    ("provider: ollama\nextractor: {}\n", "extractor"),  # the section alone: nothing else
])
def test_errors_name_the_file_and_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=key) as caught:
        load_chat_config(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("text", ["model: [1, 2\n", "- a list\n"])
def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="llm.yaml"):
        load_chat_config(write(tmp_path, text))


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_chat_config(tmp_path / "nope.yaml")


def test_a_gguf_model_id_holds_the_file_name_and_size(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"1234")
    assert ChatModelConfig(model_path=str(gguf)).model_id() == "llamacpp:m.gguf:4"
