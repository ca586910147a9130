"""The `lmdesk` command line, run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gguf_bytes import header

from lmdesk.core.estimate import GpuTarget, estimate
from lmdesk.core.gguf import read_model
from lmdesk.core.load_settings import LoadSettings


def lmdesk(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lmdesk", *args], capture_output=True, text=True, timeout=120
    )


def test_inspect(smollm2_path: Path) -> None:
    result = lmdesk("inspect", str(smollm2_path))
    assert result.returncode == 0, result.stderr
    assert "llama" in result.stdout and "Q4_1" in result.stdout and "49152" in result.stdout
    facts = json.loads(lmdesk("inspect", str(smollm2_path), "--json").stdout)
    assert facts["n_layer"] == 30 and facts["n_head_kv"] == 3 and facts["chat_template"] is True
    assert len(facts["layer_bytes"]) == 30


def test_estimate_json_matches_the_estimator(smollm2_path: Path) -> None:
    result = lmdesk("estimate", str(smollm2_path), "--gpu-layers", "11", "--ctx", "8192",
                    "--kv-type", "q8_0", "--flash-attn", "--vram", "8GiB", "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["n_gpu_layers"] == 11
    names = [d["name"] for d in out["devices"]]
    assert names[0] == "CPU" and names[1].startswith("GPU 0")
    settings = LoadSettings(n_gpu_layers=11, n_ctx=8192, type_k="q8_0", type_v="q8_0",
                            flash_attn=True)  # fmt: skip
    plan = estimate(read_model(smollm2_path), settings, [GpuTarget("GPU 0")])
    for device, expected in zip(out["devices"], plan.devices, strict=True):
        assert device["kv_cache"] == expected.kv_cache
        assert device["total"] == expected.total
        assert set(device) >= {"name", "weights", "kv_cache", "compute", "output", "overhead"}
    assert out["verdict"]["fit"] == "fits"


def test_estimate_table_and_verdict(smollm2_path: Path) -> None:
    result = lmdesk("estimate", str(smollm2_path), "--ctx", "8192", "--vram", "300MiB")
    assert result.returncode == 0, result.stderr
    assert "GPU 0 (300.0 MiB)" in result.stdout and "MiB" in result.stdout
    assert "Will not fit" in result.stdout


def test_fit(smollm2_path: Path) -> None:
    out = json.loads(lmdesk("fit", str(smollm2_path), "--vram", "1GiB", "--margin", "256MiB",
                            "--ctx", "8192", "--json").stdout)  # fmt: skip
    assert 0 < out["n_gpu_layers"] <= 31
    assert out["max_full_offload_ctx"] % 256 == 0
    text = lmdesk("fit", str(smollm2_path), "--vram", "8GiB").stdout
    assert "31 of 31 layers fit in 8.0 GiB" in text


def test_bad_input_is_one_line_and_status_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(header([], [], version=99))
    cases = [
        ("inspect", str(tmp_path / "missing.gguf")),
        ("inspect", str(bad)),
        ("estimate", str(bad), "--vram", "lots"),
        ("fit", str(bad)),
        ("frobnicate",),
    ]
    for args in cases:
        result = lmdesk(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
