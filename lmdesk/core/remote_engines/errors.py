"""What goes wrong with a remote server, one sentence each (all `EngineError`s)."""

from __future__ import annotations

from ..engine.errors import EngineError, GenerationError


class ServerUnreachable(EngineError):
    """Nothing answered at the server's address (refused, no route, timed out connecting)."""


class WrongKey(EngineError):
    """The server refused the API key (401 or 403)."""


class RemoteModelGone(EngineError):
    """The server no longer lists the model (or answers 404 for it)."""


class BadServerReply(EngineError):
    """The server answered, but not like an OpenAI-compatible server."""


class StreamCut(GenerationError):
    """The reply's stream broke off (the server went away or stalled); the text so far is kept."""
