"""OpenAI-compatible servers as engines: another lmdesk, llama-server, vLLM, Ollama. No Qt.

    server = RemoteServer.checked("Office", "http://10.0.0.5:1234", api_key="")
    ids = listing.list_models(server)              # its /v1/models
    engine = engine.RemoteEngine()
    engine.load(RemoteModel(server, ids[0]))       # checks the model is listed
    for chunk in engine.chat(messages): ...        # TextChunks, then one ReplyStats

Failures are `EngineError`s with one sentence each (`errors`): unreachable, wrong key,
model gone, a cut stream, an answer that is not an OpenAI-compatible one.

This package's top level is only the records (`server`): the settings and the UI read
them without importing the engine (and llama.cpp with it).
"""

from .server import (
    RemoteModel,
    RemoteServer,
    is_remote_label,
    remote_label,
    remote_model_named,
    servers_from_setting,
)

__all__ = [
    "RemoteModel",
    "RemoteServer",
    "is_remote_label",
    "remote_label",
    "remote_model_named",
    "servers_from_setting",
]
