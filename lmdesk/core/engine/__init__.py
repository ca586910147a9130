"""One llama.cpp model, Qt-free: load with progress and cancel, stream replies, stop, unload.

    engine = Engine()
    engine.load(path, LoadSettings(n_ctx=4096), on_progress=lambda p: not cancelled)
    for chunk in engine.chat(messages, PRESETS["Balanced"], stop_flag=stop_event):
        if isinstance(chunk, TextChunk): show(chunk.text)
        else: stats = chunk              # ReplyStats, always last

Failures are `EngineError` subclasses whose ``str()`` is a sentence for a person.
"""

from ..load_settings import LoadSettings
from ..sampling import DEFAULT_PRESET, PRESETS, SamplingSettings
from .chunks import ChatChunk, ReplyStats, StopReason, TextChunk
from .context import CONTEXT_POLICIES, ContextPolicy
from .engine import Engine
from .errors import (
    CannotEmbed,
    ContextOverflow,
    EngineBusy,
    EngineError,
    GenerationError,
    LoadCancelled,
    ModelFileError,
    NoModelLoaded,
    OutOfMemory,
    TemplateError,
    UnsupportedArchitecture,
)
from .reports import LoadReport, UnloadReport
from .template_guess import TemplateChoice, template_for
from .templates import BUILTIN_TEMPLATES, COMPLETION, GGUF_TEMPLATE

__all__ = [
    "BUILTIN_TEMPLATES",
    "COMPLETION",
    "CONTEXT_POLICIES",
    "DEFAULT_PRESET",
    "GGUF_TEMPLATE",
    "PRESETS",
    "CannotEmbed",
    "ChatChunk",
    "ContextOverflow",
    "ContextPolicy",
    "Engine",
    "EngineBusy",
    "EngineError",
    "GenerationError",
    "LoadCancelled",
    "LoadReport",
    "LoadSettings",
    "ModelFileError",
    "NoModelLoaded",
    "OutOfMemory",
    "ReplyStats",
    "SamplingSettings",
    "StopReason",
    "TemplateChoice",
    "TemplateError",
    "TextChunk",
    "UnloadReport",
    "UnsupportedArchitecture",
    "template_for",
]
