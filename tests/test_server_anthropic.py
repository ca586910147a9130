"""The Anthropic Messages API with the official anthropic SDK against a live server:
plain and streamed replies, system, stop_sequences, a forced tool_use and a tool_result,
and API-key auth (x-api-key and Bearer; 401 in each API's shape)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import jsonschema
import openai
import pytest

from lmdesk.core.server import ApiServer, ServerConfig, ServerConfigError
from lmdesk.core.server.config import read_key_file
from tests.api_server import MODEL, live_server, post_raw

KEY = "sk-local-test-key-0123456789"
SYSTEM = "You are a helpful assistant."
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def server(smollm2_path: Path) -> Iterator[ApiServer]:
    with live_server({MODEL: smollm2_path}, ServerConfig(port=0, api_key=KEY)) as server:
        yield server


@pytest.fixture
def client(server: ApiServer) -> anthropic.Anthropic:
    root = server.base_url.removesuffix("/v1")
    return anthropic.Anthropic(base_url=root, api_key=KEY, max_retries=0)


def test_message_plain_and_streamed_agree(client: anthropic.Anthropic) -> None:
    plain = client.messages.create(
        model=MODEL, system=SYSTEM, messages=QUESTION, max_tokens=8, extra_body={"temperature": 0}
    )
    assert plain.type == "message" and plain.role == "assistant" and plain.model == MODEL
    text = "".join(b.text for b in plain.content if b.type == "text")
    assert "Paris" in text
    assert plain.usage.input_tokens > 10 and 1 <= plain.usage.output_tokens <= 8
    assert plain.stop_reason in ("end_turn", "max_tokens")

    with client.messages.stream(
        model=MODEL, system=SYSTEM, messages=QUESTION, max_tokens=8, extra_body={"temperature": 0}
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) >= 2 and "".join(pieces) == text
    assert final.usage.output_tokens == plain.usage.output_tokens
    assert final.stop_reason == plain.stop_reason


def test_stop_sequences_end_the_reply(client: anthropic.Anthropic) -> None:
    reply = client.messages.create(
        model=MODEL,
        system=SYSTEM,
        messages=QUESTION,
        max_tokens=30,
        extra_body={"temperature": 0},
        stop_sequences=["Paris"],
    )
    assert reply.stop_reason == "stop_sequence" and reply.stop_sequence == "Paris"
    assert "Paris" not in "".join(b.text for b in reply.content if b.type == "text")


TOOL = {
    "name": "get_weather",
    "description": "The weather in a city now.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 30}},
        "required": ["city"],
    },
}


def test_a_forced_tool_use_validates_and_a_tool_result_is_answered(
    client: anthropic.Anthropic,
) -> None:
    ask = [{"role": "user", "content": "What is the weather in Paris?"}]
    reply = client.messages.create(
        model=MODEL,
        messages=ask,
        max_tokens=40,
        extra_body={"temperature": 0},
        tools=[TOOL],
        tool_choice={"type": "tool", "name": "get_weather"},
    )
    assert reply.stop_reason == "tool_use"
    uses = [b for b in reply.content if b.type == "tool_use"]
    assert len(uses) == 1 and uses[0].name == "get_weather"
    jsonschema.validate(uses[0].input, TOOL["input_schema"])

    with client.messages.stream(
        model=MODEL,
        messages=ask,
        max_tokens=40,
        extra_body={"temperature": 0},
        tools=[TOOL],
        tool_choice={"type": "any"},
    ) as stream:
        streamed = stream.get_final_message()
    streamed_uses = [b for b in streamed.content if b.type == "tool_use"]
    assert streamed_uses and streamed_uses[0].input == uses[0].input

    follow = client.messages.create(
        model=MODEL,
        max_tokens=8,
        extra_body={"temperature": 0},
        tools=[TOOL],
        messages=[
            *ask,
            {"role": "assistant", "content": [u.model_dump() for u in uses]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": uses[0].id, "content": "21 °C, sunny"}
                ],
            },
        ],
    )
    assert any(b.type == "text" and b.text for b in follow.content)


def test_a_missing_or_wrong_key_gets_401_in_both_shapes(server: ApiServer) -> None:
    root = server.base_url.removesuffix("/v1")
    for key in ("wrong-key", KEY[:-1]):
        bad = anthropic.Anthropic(base_url=root, api_key=key, max_retries=0)
        with pytest.raises(anthropic.AuthenticationError) as refused:
            bad.messages.create(model=MODEL, messages=QUESTION, max_tokens=1)
        assert refused.value.body == {
            "type": "error",
            "error": {
                "type": "authentication_error",
                "message": refused.value.body["error"]["message"],
            },
        }
    oa = openai.OpenAI(base_url=server.base_url, api_key="wrong-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as refused_oa:
        oa.models.list()
    assert refused_oa.value.code == "invalid_api_key"
    status, body = post_raw(server.base_url + "/chat/completions", b"{}")  # no key at all
    assert status == 401 and body["error"]["type"] == "authentication_error"
    # The right key as a Bearer token works for the OpenAI side too.
    good = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
    assert [m.id for m in good.models.list().data] == [MODEL]


def test_lan_without_a_key_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ServerConfigError, match="needs an API key"):
        ServerConfig(host="0.0.0.0").check()
    ServerConfig(host="0.0.0.0", api_key=KEY).check()  # with a key it may
    ServerConfig(host="127.0.0.1").check()  # local needs none
    empty = tmp_path / "key.txt"
    empty.write_text("\n")
    with pytest.raises(ServerConfigError, match="is empty"):
        read_key_file(empty)
    with pytest.raises(ServerConfigError, match="cannot read"):
        read_key_file(tmp_path / "missing.txt")
