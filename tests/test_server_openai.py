"""The OpenAI-compatible API with the official openai SDK against a live server on
127.0.0.1 and the real SmolLM2: chat (plain, streamed), exact usage, JSON schema output,
forced tool calls, completions, the Responses API, and errors in OpenAI's shape."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import openai
import pytest
from llama_cpp import Llama

from lmdesk.core.reasoning import ReasoningSplitter, split_reasoning
from lmdesk.core.server import ApiServer
from tests.api_server import MODEL, live_server, post_raw

SYSTEM = "You are a helpful assistant."
QUESTION = "What is the capital of France?"
MESSAGES = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]


@pytest.fixture(scope="module")
def server(smollm2_path: Path) -> Iterator[ApiServer]:
    with live_server({MODEL: smollm2_path}) as server:
        yield server


@pytest.fixture
def client(server: ApiServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)


def _real_prompt_tokens(path: Path) -> int:
    """The ChatML prompt SmolLM2's template makes, tokenized by llama-cpp-python itself."""
    vocab = Llama(model_path=str(path), vocab_only=True, verbose=False)
    prompt = (
        f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{QUESTION}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    try:
        return len(vocab.tokenize(prompt.encode(), add_bos=True, special=True))
    finally:
        vocab.close()


def test_chat_reply_and_usage_equal_to_the_prompts_real_token_count(
    client: openai.OpenAI, smollm2_path: Path
) -> None:
    reply = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=8, temperature=0
    )
    choice = reply.choices[0]
    assert choice.message.role == "assistant" and choice.message.content
    assert "Paris" in choice.message.content
    assert reply.model == MODEL
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == _real_prompt_tokens(smollm2_path)
    assert 1 <= reply.usage.completion_tokens <= 8
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    if reply.usage.completion_tokens == 8:
        assert choice.finish_reason == "length"


def test_streamed_chat_adds_up_to_the_plain_reply_and_ends_with_usage(
    client: openai.OpenAI,
) -> None:
    plain = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=8, temperature=0
    )
    pieces, usage, finish = [], None, None
    stream = client.chat.completions.create(
        model=MODEL,
        messages=MESSAGES,
        max_tokens=8,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert len([p for p in pieces if p]) >= 2  # really streamed, not one block
    assert "".join(pieces) == plain.choices[0].message.content
    assert usage is not None and plain.usage is not None
    assert usage.prompt_tokens == plain.usage.prompt_tokens
    assert usage.completion_tokens == plain.usage.completion_tokens
    assert finish == plain.choices[0].finish_reason


def test_json_schema_reply_validates(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 20},
            "country": {"type": "string", "maxLength": 20},
            "population": {"type": "integer"},
        },
        "required": ["city", "country", "population"],
        "additionalProperties": False,
    }
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Describe Paris as JSON."}],
        max_tokens=80,
        temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
    )
    data = json.loads(reply.choices[0].message.content or "")
    jsonschema.validate(data, schema)
    assert reply.choices[0].finish_reason == "stop"


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city now.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "maxLength": 30},
                "unit": {"enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
        },
    },
}


def test_a_forced_tool_call_has_arguments_that_validate(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        max_tokens=60,
        temperature=0,
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls and len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), WEATHER["function"]["parameters"])

    # The conversation goes on with the result, as agents do.
    follow = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "user", "content": "What is the weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": '{"temperature": 21}'},
        ],
        max_tokens=8,
        temperature=0,
        tools=[WEATHER],
        tool_choice="none",
    )
    assert follow.choices[0].message.content


def test_completions_plain_and_streamed(client: openai.OpenAI) -> None:
    plain = client.completions.create(
        model=MODEL, prompt="The capital of France is", max_tokens=5, temperature=0
    )
    assert plain.choices[0].text.strip().startswith("Paris")
    assert plain.usage is not None and plain.usage.completion_tokens == 5
    streamed = "".join(
        c.choices[0].text
        for c in client.completions.create(
            model=MODEL, prompt="The capital of France is", max_tokens=5, temperature=0, stream=True
        )
        if c.choices
    )
    assert streamed == plain.choices[0].text


def test_responses_plain_and_streamed(client: openai.OpenAI) -> None:
    plain = client.responses.create(
        model=MODEL, instructions=SYSTEM, input=QUESTION, max_output_tokens=8, temperature=0
    )
    assert "Paris" in plain.output_text
    assert plain.usage is not None and plain.usage.output_tokens <= 8
    events = []
    with client.responses.stream(
        model=MODEL, instructions=SYSTEM, input=QUESTION, max_output_tokens=8, temperature=0
    ) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_response()
    assert events[0] == "response.created" and events[-1] == "response.completed"
    assert events.count("response.output_text.delta") >= 2
    assert final.output_text == plain.output_text


def test_models_lists_my_models_with_what_is_loaded(client: openai.OpenAI) -> None:
    client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=1)
    models = client.models.list().data
    assert [m.id for m in models] == [MODEL]
    assert models[0].model_extra == {"loaded": True}


def test_errors_come_in_openais_shape(client: openai.OpenAI, server: ApiServer) -> None:
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=1)
    assert unknown.value.status_code == 404
    assert MODEL in unknown.value.message and "gpt-4o" in unknown.value.message

    with pytest.raises(openai.UnprocessableEntityError) as wrong_type:
        client.chat.completions.create(
            model=MODEL,
            messages=MESSAGES,
            max_tokens=1,
            temperature="hot",  # type: ignore[arg-type]
        )
    body = wrong_type.value.body
    assert isinstance(body, dict) and body["param"] == "temperature"

    with pytest.raises(openai.BadRequestError, match="cannot make embeddings"):
        client.embeddings.create(model=MODEL, input="hello")

    url = server.base_url + "/chat/completions"
    status, body = post_raw(url, b"{not json", {"content-type": "application/json"})
    assert status == 400 and "not valid JSON" in body["error"]["message"]
    status, body = post_raw(url, b"x" * (4 * 1024 * 1024 + 1))
    assert status == 413 and body["error"]["code"] == "request_too_large"
    log = list(server.state.log)
    assert any(r.status == 413 and r.path == "/v1/chat/completions" for r in log)
    assert all(r.text is None for r in log)  # message text is not logged by default


def test_reasoning_is_split_from_the_answer_even_when_tags_are_cut() -> None:
    assert split_reasoning("<think>Paris is in France.</think>\nParis.") == (
        "Paris is in France.",
        "Paris.",
    )
    assert split_reasoning("No thinking here.") == ("", "No thinking here.")
    splitter = ReasoningSplitter()
    pieces = ["<th", "ink>a", "b</th", "ink>", "answer"]
    out = [splitter.feed(p) for p in pieces] + [splitter.finish()]
    assert "".join(r for r, _ in out) == "ab"
    assert "".join(c for _, c in out) == "answer"


def test_embeddings_from_an_embedding_model(smollm2_path: Path, tmp_path: Path) -> None:
    from embedding_model import with_pooling

    embedder = with_pooling(smollm2_path, tmp_path / "embedder.gguf")
    with live_server({"embedder": embedder}) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0)
        result = client.embeddings.create(model="embedder", input=["a cat", "a kitten", "taxes"])
        vectors = [item.embedding for item in result.data]
        assert [item.index for item in result.data] == [0, 1, 2]
        assert len(vectors[0]) == 576 and result.usage.prompt_tokens >= 3
        assert all(abs(sum(x * x for x in v) - 1) < 1e-4 for v in vectors)
        one = client.embeddings.create(model="embedder", input="a cat", encoding_format="float")
        assert one.data[0].embedding == pytest.approx(vectors[0], abs=1e-6)  # base64 above
        with pytest.raises(openai.UnprocessableEntityError):
            client.embeddings.create(model="embedder", input=[{"not": "text"}])  # type: ignore[list-item]


def test_max_tokens_is_capped_by_the_context_and_a_prompt_too_long_is_a_400(
    client: openai.OpenAI,
) -> None:
    filler = "word " * 990  # about 990 tokens of the 1,024 the test server's context holds
    reply = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": filler}], max_tokens=500
    )
    assert reply.usage is not None
    assert reply.usage.prompt_tokens + reply.usage.completion_tokens <= 1024
    assert reply.usage.prompt_tokens > 900
    with pytest.raises(openai.BadRequestError, match="no room for a reply"):
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": filler * 2}], max_tokens=5
        )


def test_a_reply_that_is_a_call_becomes_one_only_for_a_listed_tool() -> None:
    from lmdesk.core.server.tools import ToolSpec, parse_call

    tools = [ToolSpec("get_weather", "", {"type": "object"})]
    call = parse_call('```json\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n```', tools)
    assert call is not None and call.arguments == {"city": "Oslo"}
    assert parse_call('{"name": "rm_rf", "arguments": {}}', tools) is None
    assert parse_call("It is sunny in Oslo.", tools) is None


def test_completions_keep_think_tags_as_text() -> None:
    from lmdesk.core.reasoning import ReasoningSplitter

    plain = ReasoningSplitter(answer_only=True)
    assert plain.feed("<think>x</think>y") == ("", "<think>x</think>y")
    assert plain.finish() == ("", "")
