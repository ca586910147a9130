"""huggingface_hub's HTTP plumbing in one place: its shared httpx2 client, headers, errors.

Going through `get_session()` keeps huggingface_hub's behaviour (offline mode, request
ids, redirects) and its client settings; `hub_headers()` adds the user agent and the
bearer token exactly as huggingface_hub does for its own calls.
"""

from __future__ import annotations

from huggingface_hub import get_session, hf_raise_for_status

# Documented public API, but huggingface_hub.utils does not re-export it for mypy.
from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]


def hub_headers(token: str | None) -> dict[str, str]:
    """Request headers for the hub: user agent, and the token (or the saved login when None)."""
    return {str(k): str(v) for k, v in build_hf_headers(token=token).items()}


__all__ = ["get_session", "hf_raise_for_status", "hub_headers"]
