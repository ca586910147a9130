"""Inference off the GUI thread: one worker QObject on its own QThread owns the engine.

The GUI talks to `InferenceController` (plain methods, GUI-thread signals);
the controller talks to `InferenceWorker` only through queued signals, except
for Stop and Cancel, which are `threading.Event`s the engine polls between
tokens (the worker is busy generating and would not see a queued call).
"""

from lmdesk.ui.services.inference.batching import CHUNK_INTERVAL_S, ChunkBatcher
from lmdesk.ui.services.inference.controller import InferenceController
from lmdesk.ui.services.inference.loaded import LoadedModel
from lmdesk.ui.services.inference.worker import InferenceWorker

__all__ = [
    "CHUNK_INTERVAL_S",
    "ChunkBatcher",
    "InferenceController",
    "InferenceWorker",
    "LoadedModel",
]
