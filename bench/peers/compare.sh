#!/usr/bin/env bash
# winsor and its peers on this machine, one after the other, same model, batch and rules:
#   bench/peers/compare.sh [extra flags for all three, e.g. --window 20 --windows 3]
# Needs a release build of winsor, and python3 with torch and jax (PYTHON overrides which).
set -euo pipefail
cd "$(dirname "$0")/../.."
py="${PYTHON:-python3}"
rules=(mean winsor:1 winsor:2 winsor:4 winsor:8)
export WGPU_BACKEND="${WGPU_BACKEND:-vulkan}" XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
./target/release/winsor bench --rule "${rules[@]}" "$@"
"$py" bench/peers/torch_step.py --rule "${rules[@]}" "$@"
"$py" bench/peers/jax_step.py --rule "${rules[@]}" "$@" 2>&1 | grep -v -i warning
