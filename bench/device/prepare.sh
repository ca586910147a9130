#!/usr/bin/env bash
# Run HERE (with network) before the GPU check: puts what the device machine cannot
# download into .device/ (git-ignored), under the tool's 64 MiB carry limit:
#   - the llama-cpp-python sdist, slimmed: llama.cpp's vocab files, docs and examples
#     are not compiled, and the full sdist (73 MiB) would not travel;
#   - the wheels lmdesk's core needs that the device image lacks.
# Then, with the device tool:  run(command="bash bench/device/run.sh", carry=[".device"])
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${PYTHON:-.venv/bin/python}
rm -rf .device && mkdir -p .device/tmp
"$python" -m pip download -q --no-deps --no-binary :all: -d .device/tmp llama-cpp-python==0.3.36
"$python" -m pip download -q --no-deps -d .device gguf platformdirs diskcache
tar xzf .device/tmp/llama_cpp_python-0.3.36.tar.gz -C .device/tmp
src=.device/tmp/llama_cpp_python-0.3.36
rm -rf "$src"/vendor/llama.cpp/{models,docs,examples,benches,media,gguf-py,tools/server/public*}
tar czf .device/llama_cpp_python-0.3.36.tar.gz -C .device/tmp llama_cpp_python-0.3.36
rm -rf .device/tmp
du -sh .device
