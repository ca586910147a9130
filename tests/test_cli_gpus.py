"""`lmdesk estimate/fit` with several GPUs, none, and experts on the CPU (a real subprocess)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shaped_models import QWEN3_30B_A3B, write_shaped
from test_cli import lmdesk

from lmdesk.core.estimate import GpuTarget, estimate, fit, judge
from lmdesk.core.gguf import read_model
from lmdesk.core.gpus import probe_gpus
from lmdesk.core.load_settings import LoadSettings

GiB = 1024**3


@pytest.fixture(scope="module")
def qwen3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli-moe")
    return write_shaped(folder / "qwen3.gguf", QWEN3_30B_A3B, "Q4_K_M")[0]


def _json(*args: str) -> dict[str, object]:
    result = lmdesk(*args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_two_gpus_split_by_free_memory_or_as_told(smollm2_path: Path) -> None:
    model = read_model(smollm2_path)
    settings = LoadSettings(n_gpu_layers=31, n_ctx=2048, flash_attn=True)
    common = (str(smollm2_path), "--ctx", "2048", "--flash-attn", "--vram", "12GiB,8GiB")
    for extra, split in (((), None), (("--tensor-split", "1,2"), (1.0, 2.0))):
        out = _json("estimate", *common, *extra)
        names = [d["name"] for d in out["devices"]]  # type: ignore[attr-defined]
        assert names == ["CPU", "GPU 0 (12.0 GiB)", "GPU 1 (8.0 GiB)"]
        targets = [GpuTarget("a", weight=12 * GiB), GpuTarget("b", weight=8 * GiB)]
        plan = estimate(model, settings.with_changes(tensor_split=split), targets)
        for device, expected in zip(out["devices"], plan.devices, strict=True):  # type: ignore[call-overload]
            assert device["layers"] == list(expected.layers)
            assert device["total"] == expected.total
    free_split = _json("estimate", *common)["devices"]
    told = _json("estimate", *common, "--tensor-split", "1,2")["devices"]
    assert len(free_split[1]["layers"]) > len(free_split[2]["layers"])  # type: ignore[index]
    assert len(told[1]["layers"]) < len(told[2]["layers"])  # type: ignore[index]


@pytest.mark.skipif(bool(probe_gpus().gpus), reason="this machine has an NVIDIA GPU")
def test_no_phantom_gpu_on_a_machine_without_one(smollm2_path: Path) -> None:
    out = _json("estimate", str(smollm2_path), "--gpu-layers", "29")
    assert [d["name"] for d in out["devices"]] == ["CPU"]  # type: ignore[attr-defined]
    assert out["n_gpu_layers"] == 0 and "NVML found none" in str(out["cpu_only"])
    assert out["devices"][0]["overhead"] == 0  # type: ignore[index]
    text = lmdesk("estimate", str(smollm2_path), "--gpu-layers", "29").stdout
    assert "Planned for the CPU alone" in text and "--gpu-layers 29 has no GPU to go to" in text
    assert "GPU 0" not in text
    fitted = lmdesk("fit", str(smollm2_path))
    assert fitted.returncode == 0 and fitted.stdout.startswith("Runs on the CPU: no GPU given")


def test_experts_on_the_cpu_in_the_json_plan(qwen3: Path) -> None:
    model = read_model(qwen3)
    out = _json("estimate", str(qwen3), "--ctx", "4096", "--vram", "8GiB", "--n-cpu-moe", "30")
    settings = LoadSettings(n_ctx=4096, n_gpu_layers=-1, n_cpu_moe=30)
    plan = estimate(model, settings, [GpuTarget("GPU 0")])
    assert out["experts_on_cpu"] == 30 and out["settings"]["n_cpu_moe"] == 30  # type: ignore[index]
    assert out["expert_bytes_on_cpu"] == plan.expert_bytes_on_cpu > 10 * GiB
    verdict = judge(plan, gpu_free=8 * GiB, margin=GiB)
    assert out["verdict"] == verdict.as_dict()


def test_fit_chooses_experts_on_the_cpu_and_says_so(qwen3: Path) -> None:
    model = read_model(qwen3)
    expected = fit(model, LoadSettings(n_ctx=4096), gpu_free=8 * GiB, margin=GiB)
    args = ("fit", str(qwen3), "--ctx", "4096", "--vram", "8GiB", "--margin", "1GiB")
    out = _json(*args)
    assert out["n_gpu_layers"] == 49 and out["experts_on_cpu"] == expected.n_cpu_moe > 0
    text = lmdesk(*args).stdout
    assert text.startswith(f"49 of 49 layers, experts of {expected.n_cpu_moe} layers on the CPU")
    fixed = _json(*args, "--n-cpu-moe", "48")  # given: only the layers are fitted
    assert fixed["experts_on_cpu"] == 48


@pytest.mark.parametrize(
    "args",
    [
        ("--vram", "8GiB", "--tensor-split", "1,2"),  # a split of the wrong length
        ("--tensor-split", "1,2,3"),  # names GPUs that do not exist
        ("--vram", "12GiB,8GiB", "--tensor-split=-1,2"),
        ("--vram", "0GiB"),
        ("--n-cpu-moe", "-1"),
        ("--gpu-layers", "-2"),
        ("--gpu-layers", "99", "--vram", "8GiB"),
    ],
)
def test_bad_gpu_input_is_one_line_and_status_2(smollm2_path: Path, args: tuple[str, ...]) -> None:
    for command in ("estimate", "fit"):
        if command == "fit" and "--gpu-layers" in args:
            continue
        result = lmdesk(command, str(smollm2_path), *args)
        assert result.returncode == 2, (args, result.stdout)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
        assert result.stdout == ""
