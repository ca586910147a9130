"""The server's guard: CORS only for the listed origins, and message text in the request log
only when the user turned that on."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import openai

from lmdesk.core.server import ServerConfig
from tests.api_server import MODEL, live_server

ORIGIN = "http://localhost:3000"


def _preflight(url: str, origin: str) -> dict[str, str]:
    request = urllib.request.Request(
        url,
        method="OPTIONS",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as error:
        with error:
            return {k.lower(): v for k, v in error.headers.items()}


def test_cors_answers_listed_origins_only_and_logged_text_is_opt_in(smollm2_path: Path) -> None:
    config = ServerConfig(port=0, cors_origins=(ORIGIN,), log_message_text=True)
    with live_server({MODEL: smollm2_path}, config) as server:
        url = server.base_url + "/chat/completions"
        allowed = _preflight(url, ORIGIN)
        assert allowed.get("access-control-allow-origin") == ORIGIN
        refused = _preflight(url, "http://evil.example")
        assert "access-control-allow-origin" not in refused
        client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0)
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Remember me"}], max_tokens=1
        )
        record = server.state.log[-1]
        assert record.text == "Remember me" and record.model == MODEL
        assert record.prompt_tokens and record.completion_tokens == 1
        assert record.queue_wait_s is not None and record.status == 200
    with live_server({MODEL: smollm2_path}) as server:  # CORS off: no header for anyone
        assert "access-control-allow-origin" not in _preflight(server.base_url + "/models", ORIGIN)
