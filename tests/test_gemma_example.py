"""The seed's example end to end (issue 11): Gemma 2 27B Q4_K_M on an 8 GB and a 24 GB card.

Renders tests/gemma_screens.py's pictures (the real Discover page over the local hub,
the real Load panel) and checks what they say: Discover's verdict, read from the
header before any download, and the Load panel's Auto agree on the layers, and both
are the estimator's own `fit` for that card.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from gemma_screens import PANEL, WINDOW, render_gemma_screens
from PySide6.QtGui import QImage

from lmdesk.core.estimate import fit
from lmdesk.core.gguf import read_model
from lmdesk.core.gpus import WHAT_IF_CARDS
from lmdesk.core.load_settings import LoadSettings
from lmdesk.core.settings import Settings
from lmdesk.core.units import GiB


@pytest.mark.usefixtures("qapp")
def test_gemma_2_27b_on_an_rtx_4060_and_an_rtx_4090(tmp_path: Path) -> None:
    shots, said = render_gemma_screens(tmp_path / "shots", tmp_path / "work")
    for name, png in shots.items():
        size = QImage(str(png)).size()
        assert (size.width(), size.height()) == (WINDOW if "discover" in name else PANEL)
    small, big = said["rtx4060"], said["rtx4090"]
    assert small.n_layer == big.n_layer == 47  # 46 blocks and the output layer
    # 8 GB: part of the model on the GPU, the rest in RAM; Discover said the same before.
    assert 0 < small.n_gpu_layers < 47
    assert small.discover == f"Partial: {small.n_gpu_layers} of 47 layers"
    assert small.ram_bytes > 12 * GiB
    assert small.headline.startswith("Fits")
    assert small.detail == f"{small.n_gpu_layers} of 47 layers on the GPU, the rest on the CPU."
    # 24 GB: all of it on the GPU.
    assert big.n_gpu_layers == 47
    assert big.discover == "Full offload"
    assert big.ram_bytes < 1 * GiB < 16 * GiB < big.gpu_bytes
    assert big.detail == "47 of 47 layers on the GPU."
    # The layers are the estimator's own fit for each card at the default context.
    model = read_model(tmp_path / "work" / "hub" / "gemma-2-27b-it-Q4_K_M.gguf")
    rtx4090 = next(c for c in WHAT_IF_CARDS if c.name == "GeForce RTX 4090 24 GB")
    margin = Settings().gpu_safety_margin_bytes
    expected = fit(
        model,
        LoadSettings(n_ctx=4096),
        gpu_free=rtx4090.usable_bytes,
        margin=margin,
        gpu_name=rtx4090.name,
    )
    assert expected.n_gpu_layers == big.n_gpu_layers
    assert f"{expected.plan.gpu_total / GiB:.1f} GiB" in big.discover_detail
