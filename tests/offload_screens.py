"""Screenshots of the Load panel for the README: fits, tight, will not fit.

    QT_QPA_PLATFORM=offscreen python tests/offload_screens.py [out_dir]

writes offload-fits.png, offload-tight.png and offload-no-fit.png (360x720)
to docs/screenshots/ by default. The model is a header-only GGUF shaped like
Mistral-Nemo-Instruct-2407 Q4_K_M (40 layers, GQA 32/8, n_ff 14336, vocab
131072): real tensor infos, no tensor data, so the estimator sees a real 12B
model without a 7 GiB file. The card is the RTX 4060 8 GB what-if card, as in
the wireframe. tests/test_offload_panel.py renders the same screens.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from gguf_bytes import header, kv_str, kv_u32, tensor_info

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

F32, Q4_K, Q6_K = 0, 12, 14
BLOCK = {F32: (1, 4), Q4_K: (256, 144), Q6_K: (256, 210)}
SIZE = (360, 720)
CARD = "GeForce RTX 4060 8 GB"


def _n_bytes(shape: tuple[int, ...], ggml_type: int) -> int:
    block, size = BLOCK[ggml_type]
    n = 1
    for dim in shape:
        n *= dim
    return n // block * size


def nemo12b_header_bytes() -> bytes:
    """A Mistral-Nemo-12B-shaped GGUF header (metadata and tensor infos only)."""
    n_embd, n_ff, n_vocab, n_layer = 5120, 14336, 131_072, 40
    n_head, n_head_kv, head_dim = 32, 8, 128
    q_width, kv_width = n_head * head_dim, n_head_kv * head_dim
    kvs = [
        kv_str("general.architecture", "llama"),
        kv_str("general.name", "Mistral Nemo Instruct 2407"),
        kv_u32("general.file_type", 15),  # Q4_K_M
        kv_u32("llama.block_count", n_layer),
        kv_u32("llama.context_length", 131_072),
        kv_u32("llama.embedding_length", n_embd),
        kv_u32("llama.feed_forward_length", n_ff),
        kv_u32("llama.attention.head_count", n_head),
        kv_u32("llama.attention.head_count_kv", n_head_kv),
        kv_u32("llama.attention.key_length", head_dim),
        kv_u32("llama.attention.value_length", head_dim),
        kv_u32("llama.vocab_size", n_vocab),
    ]
    shapes: list[tuple[str, tuple[int, ...], int]] = [
        ("token_embd.weight", (n_embd, n_vocab), Q4_K)
    ]
    for il in range(n_layer):
        shapes += [
            (f"blk.{il}.attn_norm.weight", (n_embd,), F32),
            (f"blk.{il}.attn_q.weight", (n_embd, q_width), Q4_K),
            (f"blk.{il}.attn_k.weight", (n_embd, kv_width), Q4_K),
            (f"blk.{il}.attn_v.weight", (n_embd, kv_width), Q6_K),
            (f"blk.{il}.attn_output.weight", (q_width, n_embd), Q4_K),
            (f"blk.{il}.ffn_norm.weight", (n_embd,), F32),
            (f"blk.{il}.ffn_gate.weight", (n_embd, n_ff), Q4_K),
            (f"blk.{il}.ffn_up.weight", (n_embd, n_ff), Q4_K),
            (f"blk.{il}.ffn_down.weight", (n_ff, n_embd), Q6_K),
        ]
    shapes += [("output_norm.weight", (n_embd,), F32), ("output.weight", (n_embd, n_vocab), Q6_K)]
    tensors, offset = [], 0
    for name, shape, ggml_type in shapes:
        tensors.append(tensor_info(name, shape, ggml_type, offset))
        offset += -(-_n_bytes(shape, ggml_type) // 32) * 32
    return header(kvs, tensors)


def write_nemo12b_header(path: Path) -> Path:
    path.write_bytes(nemo12b_header_bytes())
    return path


def render_offload_screens(out_dir: Path, model_dir: Path) -> dict[str, Path]:
    """Render the three verdicts to PNGs in `out_dir`; returns {verdict: path}."""
    from PySide6.QtWidgets import QApplication

    from lmdesk.core.gguf import read_model
    from lmdesk.core.load_settings import LoadSettings
    from lmdesk.ui.kit.offload import OffloadPanel
    from lmdesk.ui.kit.palette import build_palette

    app = QApplication.instance() or QApplication([])
    path = write_nemo12b_header(model_dir / "Mistral-Nemo-Instruct-2407-Q4_K_M.gguf")
    model = read_model(path)
    panel = OffloadPanel()
    panel.setPalette(build_palette(dark=False))  # the app's light theme, on this panel only
    panel.resize(*SIZE)
    panel.show()
    panel.set_model(model, str(path), LoadSettings(n_ctx=8192))
    assert panel.controls.gpu.select(CARD)
    out_dir.mkdir(parents=True, exist_ok=True)
    shots: dict[str, Path] = {}

    def shoot(name: str) -> None:
        panel.speed.draw_curves()  # the chart as it is once the slider rests
        for _ in range(5):
            app.processEvents()
        shots[name] = out_dir / f"offload-{name}.png"
        if not panel.grab().save(str(shots[name])):
            raise OSError(f"could not write {shots[name]}")

    auto = panel.auto_fit()
    assert auto is not None
    shoot("fits")
    panel.controls.layers.setValue(auto.n_gpu_layers + 3)
    shoot("tight")
    panel.controls.layers.setValue(model.n_layer + 1)
    panel.controls.ctx.setValue(16_384 // 256)
    shoot("no-fit")
    panel.close()
    panel.deleteLater()
    return shots


if __name__ == "__main__":
    import tempfile

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/screenshots")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("LMDESK_HOME", tmp)  # never touch the user's settings
        for verdict, png in render_offload_screens(target, Path(tmp)).items():
            print(f"{verdict}: {png}")
