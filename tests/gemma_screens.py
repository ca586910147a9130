"""The seed's example end to end: Gemma 2 27B Q4_K_M on an RTX 4060 8 GB and an RTX 4090 24 GB.

    QT_QPA_PLATFORM=offscreen python tests/gemma_screens.py [out_dir]

writes gemma-discover-rtx4060.png, gemma-discover-rtx4090.png (Discover in the main
window, 1280x800) and gemma-load-rtx4060.png, gemma-load-rtx4090.png (the Load panel
after Auto, 360x720) to docs/screenshots/. The file is a shaped Gemma 2 27B Q4_K_M
(tests/shaped_models.py: the real header, 46 layers, n_embd 4608, 32/16 heads of 128,
FFN 36864, vocab 256000, a 4096-token window on alternate layers; sparse zero data)
served by the local test hub; Discover reads its header over HTTP ranges. The RTX 4060
is the NVML stand-in replaying a recorded card; the 4090 is the what-if card.
tests/test_gemma_example.py renders the same screens and checks what they say.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).parent))

from hub_server import HubServer, isolate_hf_home
from model_page_screens import _fake_hashes, wait
from shaped_models import GEMMA2_27B, write_shaped

REPO = "bartowski/gemma-2-27b-it-GGUF"
FILE = "gemma-2-27b-it-Q4_K_M.gguf"
RTX_4090 = "GeForce RTX 4090 24 GB"
WINDOW = (1280, 800)
PANEL = (360, 720)
CARD = """# gemma-2-27b-it · GGUF

Quantizations of Google's Gemma 2 27B instruction-tuned model for llama.cpp.
Q4_K_M is the usual choice: about 16.6 GB.
"""


@dataclass(frozen=True)
class Said:
    """What lmdesk said on one card: Discover's verdict and the Load panel's after Auto."""

    discover: str
    discover_detail: str
    n_gpu_layers: int
    n_layer: int
    ram_bytes: int
    gpu_bytes: int
    headline: str
    detail: str


def render_gemma_screens(out_dir: Path, work: Path) -> tuple[dict[str, Path], dict[str, Said]]:
    import pytest
    from PySide6.QtWidgets import QApplication, QLabel
    from shell_helpers import recorded_probe, standin_feed

    from lmdesk.core.gguf import read_model
    from lmdesk.core.gpus import WHAT_IF_CARDS
    from lmdesk.core.settings import Settings
    from lmdesk.ui.kit.offload import OffloadPanel
    from lmdesk.ui.kit.palette import theme_controller
    from lmdesk.ui.services.context import AppContext, AppSignals, SettingsStore
    from lmdesk.ui.shell import page_registry as pages
    from lmdesk.ui.shell.main_window import MainWindow

    patch = pytest.MonkeyPatch()
    work.mkdir(parents=True, exist_ok=True)
    isolate_hf_home(work, patch)
    app = QApplication.instance() or QApplication([])
    theme_controller(app, "light")  # type: ignore[arg-type]
    path = write_shaped(work / "hub" / FILE, GEMMA2_27B, "Q4_K_M")[0]
    hub = HubServer().start()
    hub.add_repo(
        REPO,
        {FILE: path},
        card=CARD,
        downloads=61_000,
        likes=180,
        last_modified="2024-07-10T00:00:00.000Z",
        tags=["gguf", "gemma2", "conversational"],
    )
    _fake_hashes(hub, REPO)
    home = work / "home"
    patch.setenv("HOME", str(home))
    settings = Settings(hf_endpoint=hub.endpoint, models_dir=str(home / "models"))
    context = AppContext(settings=SettingsStore(settings), signals=AppSignals())
    context.latest_probe = recorded_probe()()
    rtx4060 = context.latest_probe.gpus[0]
    rtx4090 = next(card for card in WHAT_IF_CARDS if card.name == RTX_4090)
    chat_spec = pages.page_spec("chat")  # put back below: later tests build the real one
    pages.register_page("chat", "Chat", lambda _c: QLabel("chat"), icon="chat")
    window = MainWindow(context, gpu_feed=standin_feed())
    window.resize(*WINDOW)
    window.show()
    out_dir.mkdir(parents=True, exist_ok=True)
    shots: dict[str, Path] = {}
    said: dict[str, Said] = {}

    def shoot(name: str, widget: object) -> None:
        from lmdesk.ui.kit.offload.speed_view import SpeedView

        for view in widget.findChildren(SpeedView):  # type: ignore[attr-defined]
            view.draw_curves()  # the charts as they are once the slider rests
        wait(app, lambda: True)
        shots[name] = out_dir / f"{name}.png"
        if not widget.grab().save(str(shots[name])):  # type: ignore[attr-defined]
            raise OSError(f"could not write {shots[name]}")

    panel = OffloadPanel(context.settings)
    try:
        window.show_page("discover")
        discover = window.pages["discover"]
        wait(app, lambda: REPO in discover.results.repo_ids(), what="search results")  # type: ignore[attr-defined]
        discover.list.setCurrentIndex(discover.results.index(0, 0))  # type: ignore[attr-defined]
        view = discover.repo_view  # type: ignore[attr-defined]
        rows = view.files.rows

        def judged() -> bool:
            return bool(rows()) and rows()[0].words is not None and not rows()[0].words.approximate

        wait(app, lambda: judged() and not view.headers.busy, what="header")
        discover_said = {}
        for key, card in (("rtx4060", rtx4060), ("rtx4090", rtx4090)):
            if key == "rtx4090":
                assert discover.target.select(card.uuid)  # type: ignore[attr-defined]
                wait(app, lambda: discover.target.inputs().gpu == rtx4090, what="4090")  # type: ignore[attr-defined]
            wait(app, judged, what="verdict")
            discover_said[key] = rows()[0].words
            shoot(f"gemma-discover-{key}", window)

        model = read_model(path)
        panel.resize(*PANEL)
        panel.show()
        panel.set_gpus(context.latest_probe)
        for key, card in (("rtx4060", rtx4060), ("rtx4090", rtx4090)):
            panel.set_model(model, str(home / "models" / REPO / FILE))
            assert panel.controls.gpu.select(card.uuid)
            panel.controls.gpu.target_changed.emit()
            panel.auto_fit()
            plan, verdict = panel.current_plan(), panel.current_verdict()
            words = discover_said[key]
            said[key] = Said(
                discover=words.text,
                discover_detail=words.detail,
                n_gpu_layers=plan.n_gpu_layers,
                n_layer=model.n_layer + 1,
                ram_bytes=plan.cpu.total,
                gpu_bytes=plan.gpu_total,
                headline=verdict.headline,
                detail=verdict.detail,
            )
            # the predicted speed under the verdict, with its chart
            wait(app, lambda: panel.speed.prediction() and not panel.speed.curves_pending, 90)
            shoot(f"gemma-load-{key}", panel)
    finally:
        panel.close()
        for page in window.pages.values():
            if hasattr(page, "shutdown"):
                page.shutdown()
        window.close()
        hub.stop()
        patch.undo()
        pages.register_page("chat", chat_spec.title, chat_spec.factory, icon=chat_spec.icon)
    return shots, said


if __name__ == "__main__":
    import tempfile

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/screenshots")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LMDESK_HOME"] = tmp  # never touch the user's settings
        shots, said = render_gemma_screens(target, Path(tmp))
        for name, png in shots.items():
            print(f"{name}: {png}")
        for key, text in said.items():
            print(key, text)
