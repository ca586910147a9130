"""A vision projector (``mmproj``) beside a text model, through llama.cpp's libmtmd.

`Projector.open` pairs a projector file with the loaded model and refuses, with a sentence,
one that is no vision projector or belongs to another model (its embeddings must be as
wide as the model's). `Projector.prefill` evaluates a prompt that holds images: the text
around each image marker is tokenized, each picture is decoded, encoded by the vision
tower and projected, and all of it is decoded into the model's context. Generation then
goes on as for text. Only the engine's worker thread uses it.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import llama_cpp
from llama_cpp import mtmd_cpp

from ..gguf.projector import find_projector, projector_width
from ..images import ImageError, image_facts
from . import llama_log
from .errors import GenerationError, ModelFileError
from .native import NativeModel

__all__ = ["MARKER", "Projector", "find_projector", "projector_width"]

MARKER = "<__media__>"
"""Where an image goes in the prompt text (libmtmd's default marker)."""


class Projector:
    def __init__(self, ctx: Any, path: Path) -> None:
        self._ctx = ctx
        self.path = path

    @classmethod
    def open(
        cls, path: str | Path, native: NativeModel, *, n_threads: int, use_gpu: bool = False
    ) -> Projector:
        """Load the projector for ``native``. ``use_gpu``: on the first GPU backend, if the
        build has one (libmtmd's rule; `core.estimate.projector` plans it the same way)."""
        path = Path(path)
        if not path.is_file():
            raise ModelFileError(f"The projector {path.name} was not found at {path.parent}.")
        width = projector_width(path)
        if width is None:
            raise ModelFileError(f"{path.name} is not a vision projector (mmproj) file.")
        n_embd = int(llama_cpp.llama_model_n_embd(native.model))
        if width != n_embd:
            raise ModelFileError(
                f"{path.name} belongs to another model: it makes {width}-wide embeddings and "
                f"this model reads {n_embd}. Use the projector from this model's repository."
            )
        llama_log.install_mtmd()
        params = mtmd_cpp.mtmd_context_params_default()
        params.use_gpu = use_gpu
        params.n_threads = n_threads
        params.print_timings = False
        ctx = mtmd_cpp.mtmd_init_from_file(str(path).encode(), native.model, params)
        if not ctx:
            raise ModelFileError(f"llama.cpp could not load the projector {path.name}.")
        if not mtmd_cpp.mtmd_support_vision(ctx):
            mtmd_cpp.mtmd_free(ctx)
            raise ModelFileError(f"{path.name} is a projector, but not for images.")
        return cls(ctx, path)

    def close(self) -> None:
        if self._ctx is not None:
            mtmd_cpp.mtmd_free(self._ctx)
            self._ctx = None

    def prefill(
        self,
        native: NativeModel,
        prompt: str,
        images: Sequence[bytes],
        *,
        should_stop: Callable[[], bool],
    ) -> int:
        """Evaluate ``prompt`` (one `MARKER` per image, in order) from an empty cache.

        Returns how many positions the prompt took. The cache is cleared first: image
        positions are no tokens, so the next reply evaluates its prompt again.
        """
        if prompt.count(MARKER) != len(images):
            raise GenerationError("the prompt's image markers do not match its images")
        bitmaps: list[Any] = []
        chunks = mtmd_cpp.mtmd_input_chunks_init()
        try:
            for index, data in enumerate(images):
                bitmaps.append(self._bitmap(data, index))
            text = mtmd_cpp.mtmd_input_text()
            encoded = prompt.encode()
            text.text, text.text_len = encoded, len(encoded)
            text.add_special, text.parse_special = True, True
            array = (mtmd_cpp.mtmd_bitmap_p_ctypes * max(1, len(bitmaps)))(*bitmaps)
            status = mtmd_cpp.mtmd_tokenize(
                self._ctx, chunks, ctypes.byref(text), array, len(bitmaps)
            )
            if status != 0:
                raise GenerationError(f"llama.cpp could not read the images (error {status})")
            n_pos = int(mtmd_cpp.mtmd_helper_get_n_pos(chunks))
            if n_pos >= native.n_ctx:
                raise GenerationError(
                    f"the message with its images takes {n_pos:,} positions and the context "
                    f"holds {native.n_ctx:,}"
                )
            native.clear()
            if should_stop():
                return 0
            new_n_past = llama_cpp.llama_pos(0)
            status = mtmd_cpp.mtmd_helper_eval_chunks(
                self._ctx,
                native.ctx,
                chunks,
                0,
                0,
                native.n_batch,
                True,
                ctypes.byref(new_n_past),
            )
            if status != 0:
                native.clear()
                raise GenerationError(f"llama.cpp failed to evaluate the images (error {status})")
            n_past = int(new_n_past.value)
            native.kv_tokens = [-1] * n_past  # positions no later prompt can reuse
            return n_past
        finally:
            mtmd_cpp.mtmd_input_chunks_free(chunks)
            for bitmap in bitmaps:
                mtmd_cpp.mtmd_bitmap_free(bitmap)

    def _bitmap(self, data: bytes, index: int) -> Any:
        try:
            image_facts(data, name=f"image {index + 1}")
        except ImageError as exc:
            raise GenerationError(str(exc)) from exc
        buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        bitmap = mtmd_cpp.mtmd_helper_bitmap_init_from_buf(self._ctx, buffer, len(data), False)
        if not bitmap:
            raise GenerationError(f"image {index + 1} could not be decoded")
        return bitmap
