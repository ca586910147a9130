"""The Hugging Face account: check a token, store it where huggingface_hub looks, forget it.

Blocking (network): the UI calls these on a worker thread. `huggingface_hub.login`
checks the token against the endpoint huggingface_hub was imported with
(``HF_ENDPOINT``), so for that endpoint it is used as is; for another server (a mirror)
the token is first checked there with `whoami`, then stored through huggingface_hub's
token store.
"""

from __future__ import annotations

from huggingface_hub import HfApi, constants, get_token, login, logout

from .errors import hub_errors


def whoami(*, endpoint: str, token: str) -> str:
    """The user name the token belongs to; raises `InvalidToken` if the hub rejects it."""
    with hub_errors():
        info = HfApi(endpoint=endpoint).whoami(token=token, cache=False)
    return str(info.get("name", ""))


def stored_token() -> str | None:
    """The token huggingface_hub will use (HF_TOKEN or the stored one), if any."""
    return get_token() or None


def log_in(token: str, *, endpoint: str) -> str:
    """Check ``token`` at ``endpoint`` and store it as the active token; returns the user name.

    Raises `InvalidToken` (or another `HubError`) when the server rejects it or cannot be
    reached; `ValueError` for an empty token.
    """
    token = token.strip()
    if not token:
        raise ValueError("paste an access token first (from huggingface.co/settings/tokens)")
    if endpoint.rstrip("/") == constants.ENDPOINT.rstrip("/"):
        with hub_errors():
            login(token=token, add_to_git_credential=False)
        return whoami(endpoint=endpoint, token=token)
    user = whoami(endpoint=endpoint, token=token)
    _store(token, name=f"lmdesk-{user}")
    return user


def _store(token: str, *, name: str) -> None:
    """Save and activate ``token`` in huggingface_hub's token store without re-checking it."""
    from huggingface_hub._login import _set_active_token
    from huggingface_hub.utils._auth import _save_token

    _save_token(token=token, token_name=name)
    _set_active_token(token_name=name, add_to_git_credential=False)


def current_user(*, endpoint: str) -> str | None:
    """Who the stored token belongs to, or None without a token; raises `HubError` if rejected."""
    token = stored_token()
    return whoami(endpoint=endpoint, token=token) if token else None


def log_out() -> None:
    """Forget every token huggingface_hub stored (an HF_TOKEN variable stays in effect)."""
    logout()
