"""GPU discovery, what-if cards, system memory and the installed llama.cpp build.

NVML is a stand-in here because this machine has no NVIDIA GPU: the probe is
tested against readings replayed by `tests/nvml_standin.py` (hand-written in the
recorder's layout; none has been recorded on a real GPU yet), which
raises the real `pynvml.NVMLError` subclasses. The probe is also run once
against the real pynvml, which on a machine without a driver must say so.
Everything else (psutil, llama_cpp) is the real thing.
"""

from __future__ import annotations

import ctypes.util
import json
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

import llama_cpp
import psutil
import pynvml
import pytest
from nvml_standin import FIXTURES, NvmlStandIn

from lmdesk.core.gpus import (
    NO_DRIVER,
    NO_GPU,
    WHAT_IF_CARDS,
    WHAT_IF_RESERVED_BYTES,
    GpuMonitor,
    GpuProbe,
    LlamaBuild,
    cuda_install_command,
    cuda_install_hint,
    custom_card,
    find_what_if,
    llama_build_info,
    probe_gpus,
    system_memory,
)
from lmdesk.core.gpus.llama_build import backends_in_folder
from lmdesk.core.gpus.record import record_nvml
from lmdesk.core.units import GiB, MiB

ALL_FIXTURES = sorted(path.stem for path in FIXTURES.glob("*.json"))
HAS_NVML_LIBRARY = ctypes.util.find_library("nvidia-ml") is not None


def probe_fixture(name: str, **kwargs: int) -> tuple[GpuProbe, NvmlStandIn]:
    nvml = NvmlStandIn.from_fixture(name)
    return probe_gpus(nvml, **kwargs), nvml


# -- probe_gpus against the fixtures' readings ---------------------------------------------


def test_no_gpu_reports_reason_and_shuts_nvml_down() -> None:
    probe, nvml = probe_fixture("zero_gpus")
    assert probe == GpuProbe(gpus=(), reason=NO_GPU)
    assert nvml.init_calls == nvml.shutdown_calls == 1


def test_one_gpu_reads_every_field() -> None:
    probe, nvml = probe_fixture("one_gpu_rtx4060")
    assert probe.reason is None
    (gpu,) = probe.gpus
    assert gpu.index == 0
    assert gpu.name == "NVIDIA GeForce RTX 4060"
    assert gpu.total_bytes == 8188 * MiB
    assert gpu.used_bytes == 612 * MiB
    assert gpu.free_bytes == gpu.total_bytes - gpu.used_bytes
    # lmdesk holds nothing on this card: everything used belongs to others.
    assert gpu.used_by_others_bytes == gpu.used_bytes
    assert gpu.utilization_percent == 7
    assert gpu.driver_version == "550.120"
    assert gpu.cuda_version == "12.4"
    assert gpu.uuid == "GPU-5f1b2c3d-8e4a-4b6c-9d7e-0a1b2c3d4e5f"
    assert gpu.is_what_if is False
    assert nvml.init_calls == nvml.shutdown_calls == 1


def test_two_gpus_subtract_only_our_own_memory() -> None:
    probe, _ = probe_fixture("two_gpus_rtx3090_rtx3060", own_pid=31337)
    assert probe.reason is None
    rtx3090, rtx3060 = probe.gpus
    assert (rtx3090.index, rtx3060.index) == (0, 1)
    assert rtx3090.name == "NVIDIA GeForce RTX 3090"
    assert rtx3090.total_bytes == 24 * GiB
    # 9774 MiB used, of which pid 31337 (lmdesk) holds a 9000 MiB model.
    assert rtx3090.used_by_others_bytes == (9774 - 9000) * MiB
    assert rtx3060.total_bytes == 12 * GiB
    # The 3060's only process reports no memory figure (None): nothing to subtract.
    assert rtx3060.used_by_others_bytes == rtx3060.used_bytes == 268 * MiB
    assert rtx3060.utilization_percent == 0


def test_other_process_memory_counts_as_others() -> None:
    probe, _ = probe_fixture("two_gpus_rtx3090_rtx3060", own_pid=424242)
    assert probe.gpus[0].used_by_others_bytes == probe.gpus[0].used_bytes == 9774 * MiB


def test_unsupported_process_queries_are_not_an_error() -> None:
    probe, _ = probe_fixture("one_gpu_wsl_rtx4070")
    assert probe.reason is None
    (gpu,) = probe.gpus
    assert gpu.used_by_others_bytes == gpu.used_bytes == 1480 * MiB
    assert gpu.cuda_version == "12.6"


@pytest.mark.parametrize("fixture", ["error_library_not_found", "error_driver_not_loaded"])
def test_missing_driver_is_reported_plainly(fixture: str) -> None:
    probe, nvml = probe_fixture(fixture)
    assert probe == GpuProbe(gpus=(), reason=NO_DRIVER)
    assert nvml.shutdown_calls == 0  # init failed: nothing to shut down


def test_no_permission_is_explained() -> None:
    probe, nvml = probe_fixture("error_no_permission")
    assert probe.gpus == ()
    assert probe.reason is not None
    assert probe.reason.startswith("NVML error: GPU 0: ")
    assert "permission" in probe.reason
    assert nvml.init_calls == nvml.shutdown_calls == 1


def test_lost_gpu_does_not_hide_the_working_one() -> None:
    probe, nvml = probe_fixture("error_gpu_is_lost")
    assert [gpu.name for gpu in probe.gpus] == ["NVIDIA GeForce RTX 3090"]
    assert probe.reason is not None
    assert probe.reason.startswith("NVML error: GPU 1: ")
    assert "stopped responding" in probe.reason
    assert nvml.init_calls == nvml.shutdown_calls == 1


def test_failing_count_gives_an_nvml_error() -> None:
    probe, nvml = probe_fixture("error_unknown")
    assert probe == GpuProbe(gpus=(), reason="NVML error: an unknown NVML error")
    assert nvml.init_calls == nvml.shutdown_calls == 1


def test_standin_raises_real_pynvml_errors() -> None:
    nvml = NvmlStandIn.from_fixture("error_library_not_found")
    with pytest.raises(pynvml.NVMLError_LibraryNotFound):
        nvml.nvmlInit()
    with pytest.raises(pynvml.NVMLError_Uninitialized):
        NvmlStandIn.from_fixture("one_gpu_rtx4060").nvmlDeviceGetCount()


@pytest.mark.parametrize("fixture", ALL_FIXTURES)
def test_recorder_writes_what_the_standin_replays(fixture: str) -> None:
    """Recording a machine and replaying the recording gives the same probe."""
    recorded = record_nvml(NvmlStandIn.from_fixture(fixture), description="copy")
    replayed = NvmlStandIn(json.loads(json.dumps(recorded)))
    original = NvmlStandIn.from_fixture(fixture)
    assert probe_gpus(replayed, own_pid=31337) == probe_gpus(original, own_pid=31337)


def test_real_nvml_on_this_machine() -> None:
    probe = probe_gpus()
    if HAS_NVML_LIBRARY:
        assert probe.gpus or probe.reason
    else:
        assert probe == GpuProbe(gpus=(), reason=NO_DRIVER)
        assert record_nvml()["errors"] == {"nvmlInit": "NVMLError_LibraryNotFound"}


# -- GpuMonitor ---------------------------------------------------------------------


def test_monitor_polls_until_stopped() -> None:
    results: list[GpuProbe] = []
    three = threading.Event()

    def collect(probe: GpuProbe) -> None:
        results.append(probe)
        if len(results) >= 3:
            three.set()

    monitor = GpuMonitor(lambda: probe_gpus(NvmlStandIn.from_fixture("one_gpu_rtx4060")))
    monitor.start(collect, interval_s=0.01)
    thread = monitor._thread
    assert three.wait(timeout=5)
    monitor.stop()
    assert not monitor.running
    assert thread is not None and not thread.is_alive()
    assert all(r.gpus[0].name == "NVIDIA GeForce RTX 4060" for r in results)


def test_monitor_stops_promptly_during_a_long_interval() -> None:
    first = threading.Event()
    monitor = GpuMonitor(lambda: GpuProbe(gpus=(), reason=NO_GPU))
    monitor.start(lambda probe: first.set(), interval_s=60)
    assert first.wait(timeout=5)
    started = time.monotonic()
    monitor.stop()
    assert time.monotonic() - started < 1.0
    assert not monitor.running


def test_monitor_survives_a_failing_callback_and_refuses_double_start() -> None:
    calls: list[int] = []
    second = threading.Event()

    def flaky(probe: GpuProbe) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first call fails")
        second.set()

    monitor = GpuMonitor(lambda: GpuProbe(gpus=()))
    monitor.start(flaky, interval_s=0.01)
    try:
        with pytest.raises(RuntimeError, match="already running"):
            monitor.start(flaky)
        assert second.wait(timeout=5)
    finally:
        monitor.stop()
    with pytest.raises(ValueError):
        monitor.start(flaky, interval_s=0)


# -- what-if cards and system memory ------------------------------------------------


def test_what_if_table() -> None:
    assert len(WHAT_IF_CARDS) == 18
    assert len({c.uuid for c in WHAT_IF_CARDS}) == len({c.name for c in WHAT_IF_CARDS}) == 18
    by_name = {c.name: c for c in WHAT_IF_CARDS}
    assert by_name["GeForce RTX 4090 24 GB"].total_bytes == 24 * GiB
    assert by_name["GeForce RTX 3080 10 GB"].total_bytes == 10 * GiB
    assert by_name["GeForce RTX 4060 Ti 8 GB"].total_bytes == 8 * GiB
    assert by_name["GeForce RTX 4060 Ti 16 GB"].total_bytes == 16 * GiB
    assert by_name["GeForce RTX 5090 32 GB"].total_bytes == 32 * GiB
    assert by_name["H100 80 GB"].total_bytes == 80 * GiB
    for card in WHAT_IF_CARDS:
        assert card.is_what_if and card.uuid.startswith("what-if:")
        assert card.total_bytes % GiB == 0
        assert card.used_by_others_bytes == card.used_bytes == WHAT_IF_RESERVED_BYTES
        assert card.free_bytes == card.total_bytes - WHAT_IF_RESERVED_BYTES
        assert find_what_if(card.uuid) == card == find_what_if(card.name)
    assert find_what_if("what-if:rtx-9999") is None


def test_custom_card() -> None:
    card = custom_card(12 * GiB)
    assert card.is_what_if and card.total_bytes == 12 * GiB
    assert card.free_bytes == 12 * GiB - WHAT_IF_RESERVED_BYTES
    assert "12.0 GiB" in card.name
    assert find_what_if(card.uuid) == card
    assert custom_card(6 * GiB, name="My laptop").name == "My laptop"
    tiny = custom_card(100 * MiB)
    assert tiny.free_bytes == 0 and tiny.used_bytes == 100 * MiB
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError):
            custom_card(bad)  # type: ignore[arg-type]


def test_system_memory_matches_psutil() -> None:
    memory = system_memory()
    assert memory.total_bytes == psutil.virtual_memory().total > 0
    assert 0 < memory.available_bytes <= memory.total_bytes


# -- the installed llama.cpp build ---------------------------------------------------


def test_llama_build_info_matches_the_installed_library() -> None:
    build = llama_build_info()
    assert "RPC" in build.backends and "CPU" in build.backends
    assert build.gpu_offload == llama_cpp.llama_supports_gpu_offload()
    assert build.version == llama_cpp.__version__
    lib_dir = Path(llama_cpp.__file__).parent / "lib"
    assert set(build.backends) == set(backends_in_folder(lib_dir))
    assert build.has_cuda == ("CUDA" in build.backends)


def test_importing_gpus_does_not_import_llama_cpp() -> None:
    code = "import sys, lmdesk.core.gpus; print('llama_cpp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


CPU_RPC_BUILD = LlamaBuild(gpu_offload=True, backends=("CPU", "RPC"), version="0.3.36")
CUDA_BUILD = LlamaBuild(gpu_offload=True, backends=("CPU", "RPC", "CUDA"), version="0.3.36")
EXPECTED_COMMAND = (  # pip of the interpreter running lmdesk, not whichever pip is first
    f'CMAKE_ARGS="-DGGML_CUDA=on -DGGML_RPC=on" {shlex.quote(sys.executable)} -m pip install '
    "--no-cache-dir --force-reinstall --no-deps llama-cpp-python==0.3.36"
)


def test_cuda_hint_when_an_nvidia_gpu_would_sit_idle() -> None:
    probe, _ = probe_fixture("one_gpu_rtx4060")
    hint = cuda_install_hint(CPU_RPC_BUILD, probe)
    assert hint is not None
    assert "NVIDIA GeForce RTX 4060" in hint and "without CUDA" in hint
    assert hint.splitlines()[-1] == EXPECTED_COMMAND


def test_the_cuda_command_quotes_an_interpreter_path_with_spaces() -> None:
    command = cuda_install_command("0.3.36", python="/home/ann/My Apps/lmdesk/bin/python")
    assert shlex.split(command)[1:4] == ["/home/ann/My Apps/lmdesk/bin/python", "-m", "pip"]


def test_the_cuda_hint_writes_the_home_folder_as_a_tilde_the_shell_expands(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = Path.home()
    python = home / "My Apps" / "lmdesk" / ".venv" / "bin" / "python"
    monkeypatch.setattr(sys, "executable", str(python))
    hint = cuda_install_hint(CPU_RPC_BUILD, probe_fixture("one_gpu_rtx4060")[0])
    assert hint is not None and str(home) not in hint
    command = hint.splitlines()[-1]
    assert "~/'My Apps/lmdesk/.venv/bin/python' -m pip install" in command
    # The shell turns it back into the interpreter's real path.
    interpreter = command.split(" -m pip")[0].split('" ', 1)[1]
    shown = subprocess.run(
        ["sh", "-c", f"printf %s {interpreter}"], capture_output=True, text=True, check=True
    )
    assert shown.stdout == str(python)


def test_a_bundle_says_to_use_a_cuda_bundle_not_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)  # as in a PyInstaller bundle
    probe, _ = probe_fixture("one_gpu_rtx4060")
    hint = cuda_install_hint(CPU_RPC_BUILD, probe)
    assert hint is not None and "\n" not in hint and "pip" not in hint
    assert hint.endswith("This bundle carries a CPU build; use a bundle built with CUDA.")


def test_no_cuda_hint_without_a_gpu_or_with_a_cuda_build() -> None:
    one_gpu, _ = probe_fixture("one_gpu_rtx4060")
    assert cuda_install_hint(CUDA_BUILD, one_gpu) is None
    assert cuda_install_hint(CPU_RPC_BUILD, probe_fixture("zero_gpus")[0]) is None
    assert cuda_install_hint(CPU_RPC_BUILD, probe_fixture("error_library_not_found")[0]) is None
    what_if_only = GpuProbe(gpus=(WHAT_IF_CARDS[0],))
    assert cuda_install_hint(CPU_RPC_BUILD, what_if_only) is None
