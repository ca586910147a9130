"""Which Hugging Face server lmdesk talks to: the one rule every request goes through.

The Settings value (``hf_endpoint``) wins when it is set; an empty one means "not set",
and then the ``HF_ENDPOINT`` environment variable (a mirror) decides, else huggingface.co.
huggingface_hub reads ``HF_ENDPOINT`` only when it is imported, so lmdesk reads it here,
at the time of each request, and passes ``endpoint=`` to every call.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

DEFAULT_ENDPOINT = "https://huggingface.co"


def hub_endpoint(configured: str | None = None, *, env: Mapping[str, str] | None = None) -> str:
    """The server to use: ``configured`` if set, else ``$HF_ENDPOINT``, else huggingface.co."""
    environ = os.environ if env is None else env
    for candidate in (configured, environ.get("HF_ENDPOINT")):
        if candidate and candidate.strip():
            return candidate.strip().rstrip("/")
    return DEFAULT_ENDPOINT
