"""Run llama-cpp-python's own server (``python -m llama_cpp.server``) with lmdesk's CPU
weight-layout policy: on a CPU that advertises AMX, llama.cpp's AMX kernels crash some
virtual machines (`core.estimate.cpu_buffers.extra_buffers_allowed`), and `Llama` has no
parameter for it, so its model defaults are patched first (as bench/chat_throughput.py
does). Everything else is the server's own code and arguments."""

from __future__ import annotations

import runpy

import llama_cpp.llama_cpp as native

from lmdesk.core.estimate.cpu_buffers import extra_buffers_allowed

_defaults = native.llama_model_default_params


def _model_defaults() -> object:
    params = _defaults()
    params.use_extra_bufts = extra_buffers_allowed()
    return params


if __name__ == "__main__":
    native.llama_model_default_params = _model_defaults
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
