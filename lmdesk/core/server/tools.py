"""Tool calls for models without a native tool format: the tools described in a system
message, the call written as one JSON object, and a llama.cpp grammar when a call is forced.

The model is asked to answer ``{"name": "<tool>", "arguments": {...}}`` to call a tool.
With a forced call (OpenAI ``tool_choice`` "required" or a named function, Anthropic
"any" or "tool") the grammar makes that the only possible reply, its arguments valid
against the tool's parameter schema; otherwise ("auto") a reply that parses as such a
call becomes one, and any other reply is text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]


def tools_prompt(tools: Sequence[ToolSpec], *, forced: bool) -> str:
    """The system text that tells the model which tools it has and how to call one."""
    listed = json.dumps(
        [{"name": t.name, "description": t.description, "parameters": t.parameters} for t in tools]
    )
    how = "Call one of them" if forced else "When a tool would help, call one"
    return (
        f"You can use these tools: {listed}\n{how} by replying with only a JSON object "
        '{"name": <tool name>, "arguments": <arguments object>} and nothing else.'
    )


def call_schema(tools: Sequence[ToolSpec]) -> dict[str, Any]:
    """The JSON schema of one call to any of ``tools``."""
    options = [
        {
            "type": "object",
            "properties": {
                "name": {"const": t.name},
                "arguments": t.parameters or {"type": "object"},
            },
            "required": ["name", "arguments"],
        }
        for t in tools
    ]
    return options[0] if len(options) == 1 else {"anyOf": options}


def schema_grammar(schema: dict[str, Any]) -> str:
    """llama.cpp GBNF that only lets the model write JSON valid against ``schema``."""
    try:
        return str(json_schema_to_gbnf(json.dumps(schema)))
    except Exception as exc:  # the converter raises bare exceptions for what it cannot do
        raise ValueError(f"this JSON schema cannot be turned into a grammar: {exc}") from exc


JSON_OBJECT_GRAMMAR = JSON_GBNF
"""Any JSON object (``response_format: json_object``)."""


def parse_call(text: str, tools: Sequence[ToolSpec]) -> ToolCall | None:
    """The tool call ``text`` makes, if it is one (a fenced JSON block is accepted)."""
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    names = {t.name for t in tools}
    arguments = data.get("arguments", data.get("parameters"))
    if data.get("name") in names and isinstance(arguments, dict):
        return ToolCall(str(data["name"]), arguments)
    return None
