"""Check a Hugging Face access token: who it belongs to."""

from __future__ import annotations

from huggingface_hub import HfApi

from .errors import hub_errors


def whoami(*, endpoint: str, token: str) -> str:
    """The user name the token belongs to; raises `InvalidToken` if the hub rejects it."""
    with hub_errors():
        info = HfApi(endpoint=endpoint).whoami(token=token, cache=False)
    return str(info.get("name", ""))
