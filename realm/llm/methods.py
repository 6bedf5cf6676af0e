"""The ways a chat model can be asked for structured output, best first, and how to ask each.

========== =============================================================== ==================
method     how                                                              who speaks it
========== =============================================================== ==================
tools      a forced call of a tool whose parameters are the schema          vLLM, Ollama, TGI,
                                                                            llama.cpp, OpenAI
json_schema ``response_format: {type: json_schema, ...}``                   vLLM, Ollama, OpenAI
json_mode  ``response_format: {type: json_object}`` (the prompt gives form) llama.cpp, Ollama
grammar    ``response_format: {type: json_object, schema/value: ...}``:     llama.cpp (server
           the schema compiled into a decoding grammar                      and in process), TGI
text       plain text; realm's tolerant parser reads it                     every model
========== =============================================================== ==================

A model *class* declares which of these it can send at all (:func:`available_methods`):
tool calling when it implements ``bind_tools``; ``json_schema``/``json_mode`` when its
``with_structured_output`` takes a ``method`` naming them (LangChain's base class silently
turns any method into tool calling, so the declaration is read from the signature); the
grammar when it talks the OpenAI protocol or is llama.cpp in process. Whether the *endpoint*
behind it accepts them is learnt at run time (realm.llm.negotiation).
"""

from __future__ import annotations

import inspect
import json
from typing import Any, Literal, get_args

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable
from pydantic import BaseModel

from realm.errors import ConfigError

__all__ = ["CHAIN", "Method", "SPELLED_OUT", "Structured", "available_methods", "bind_method", "method_chain", "message_text",
           "reply_text", "supports_tools"]

Method = Literal["tools", "json_schema", "json_mode", "grammar", "text"]
#: Every method, best first: the order negotiation walks down.
CHAIN: tuple[Method, ...] = get_args(Method)
#: What a config asks for: negotiate (``auto``) or one method, forced.
Structured = Literal["auto", "tools", "json_schema", "json_mode", "grammar", "text"]
#: Methods whose prompt must spell out the JSON form: only a tool puts the schema into the
#: prompt; constrained decoding shapes the tokens but never shows the model what they mean.
SPELLED_OUT: frozenset[Method] = frozenset({"json_schema", "json_mode", "grammar", "text"})
#: Model classes that can pass a JSON schema through to a decoding grammar.
_GRAMMAR_CLASSES = ("BaseChatOpenAI", "ChatLlamaCpp")


def supports_tools(model: object) -> bool:
    """True when the model class implements tool calling."""
    return isinstance(model, BaseChatModel) and type(model).bind_tools is not BaseChatModel.bind_tools


def _declared_methods(model: object) -> str:
    """The text of the annotation of ``with_structured_output``'s ``method`` parameter."""
    try:
        parameter = inspect.signature(type(model).with_structured_output).parameters.get("method")
    except (AttributeError, TypeError, ValueError):
        return ""
    return str(parameter.annotation) if parameter is not None else ""


def available_methods(model: object, schema: type[BaseModel] | None) -> tuple[Method, ...]:
    """The methods ``model``'s class can send, best first (only ``text`` without a schema)."""
    if schema is None:
        return ("text",)
    declared = _declared_methods(model)
    names = {cls.__name__ for cls in type(model).__mro__}
    able = {
        "tools": supports_tools(model),
        "json_schema": "json_schema" in declared,
        "json_mode": "json_mode" in declared,
        "grammar": any(name in names for name in _GRAMMAR_CLASSES),
        "text": True,
    }
    return tuple(m for m in CHAIN if able[m])


def method_chain(model: object, schema: type[BaseModel] | None, structured: Structured) -> tuple[Method, ...]:
    """The methods to try in order: all available ones (``auto``) or the one forced."""
    if structured != "auto" and structured not in CHAIN:
        raise ConfigError(f"structured must be auto or one of {', '.join(CHAIN)}, got {structured!r}")
    available = available_methods(model, schema)
    if structured == "auto":
        return available
    if structured not in available:
        raise ConfigError(f"{type(model).__name__} cannot answer through structured: {structured} here "
                          f"(it can: {', '.join(available)}); use structured: auto")
    return (structured,)


def _json_schema(schema: type[BaseModel]) -> dict[str, Any]:
    return schema.model_json_schema()


def bind_method(model: Any, schema: type[BaseModel] | None, method: Method) -> Runnable:
    """A runnable that asks ``model`` for an answer through ``method``."""
    if method == "text" or schema is None:
        return model
    if method == "grammar":
        # llama.cpp reads the schema under "schema", TGI under "value"; each ignores the other key
        spec = _json_schema(schema)
        return model.bind(response_format={"type": "json_object", "schema": spec, "value": spec})
    if method == "tools":
        declared = _declared_methods(model)
        kwargs = {"method": "function_calling"} if "function_calling" in declared else {}
        return model.with_structured_output(schema, include_raw=True, **kwargs)
    return model.with_structured_output(schema, include_raw=True, method=method)


def message_text(message: Any) -> str:
    """The text of a model's answer, joining content blocks' text parts."""
    content = getattr(message, "content", message)
    if isinstance(content, list):
        return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return str(content or "")


def reply_text(output: Any, schema: type[BaseModel] | None) -> str:
    """The answer as text: the validated object or the tool call's arguments as JSON, else the
    raw text (a model that answered in prose despite the method; the caller's parser decides)."""
    if not isinstance(output, dict):
        return message_text(output)
    parsed, raw = output.get("parsed"), output.get("raw")
    if schema is not None and isinstance(parsed, schema):
        return parsed.model_dump_json()
    if isinstance(raw, AIMessage):
        if raw.tool_calls:
            return json.dumps(raw.tool_calls[0].get("args", {}))
        if raw.invalid_tool_calls:
            return str(raw.invalid_tool_calls[0].get("args") or "")
    return message_text(raw)
