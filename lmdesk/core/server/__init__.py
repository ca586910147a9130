"""The local API server: OpenAI- and Anthropic-compatible endpoints over the serving pool.

    pool = ModelPool(...)
    server = ApiServer(ServerState(pool, ServerConfig(port=1234)))
    server.start()           # or server.serve_forever() in the foreground (lmdesk serve)

Binds 127.0.0.1 unless told otherwise, and then only with an API key (`ServerConfig.check`).
"""

from .app import create_app
from .config import ServerConfig, ServerConfigError, config_from_settings, read_key_file
from .runner import ApiServer, bind
from .state import RequestRecord, ServerState

__all__ = [
    "ApiServer",
    "RequestRecord",
    "ServerConfig",
    "ServerConfigError",
    "ServerState",
    "bind",
    "config_from_settings",
    "create_app",
    "read_key_file",
]
