#!/usr/bin/env bash
# Runs ON the NVIDIA machine (no network): builds llama-cpp-python with CUDA from the
# carried sdist for this GPU's architecture only (minutes, not tens of minutes), then
# bench/gpu_check.py. Results land in $OUT (the device tool brings them back).
set -euo pipefail
export PYTHONUNBUFFERED=1
out=${OUT:-/tmp/gpu-check}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version,compute_cap --format=csv | tee "$out/nvidia-smi.csv"
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)
python3 -m venv --system-site-packages /tmp/venv
/tmp/venv/bin/pip install -q --no-index --find-links .device gguf platformdirs diskcache
started=$(date +%s)
CMAKE_ARGS="-DGGML_CUDA=on -DGGML_RPC=on -DCMAKE_CUDA_ARCHITECTURES=$arch" \
CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
  /tmp/venv/bin/pip install --no-index --no-build-isolation --no-deps \
  .device/llama_cpp_python-0.3.36.tar.gz 2>&1 | tail -5 | tee "$out/build.log"
echo "llama-cpp-python built in $(( $(date +%s) - started )) s" | tee -a "$out/build.log"
/tmp/venv/bin/python bench/gpu_check.py --out "$out" 2>&1 | tee "$out/gpu_check.txt"
