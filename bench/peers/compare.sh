#!/usr/bin/env bash
# winsor and its peers on this machine, one after the other, same model, batch and rules:
#   bench/peers/compare.sh [--strong-only] [extra flags for all of them, e.g. --window 10 --windows 3 --warmup 2]
# Each peer runs mean once (plain autograd), then the winsor rules once per way of finding the
# clip bounds (--select): the strong variants first, the weak materialising baselines (topk,
# sort) last, then winsor again, to show how far the machine drifted meanwhile. A summary table
# with the fastest variant per rule and peer comes last. Needs a release build of winsor, and
# python3 with torch and jax (PYTHON overrides which). Takes about half an hour on 2 cores,
# mostly JAX's topk and sort and torch.compile's compile time; --strong-only leaves out the
# weak topk and sort baselines (about 15 minutes).
set -euo pipefail
cd "$(dirname "$0")/../.."
py="${PYTHON:-python3}"
weak=1
if [[ "${1:-}" == "--strong-only" ]]; then
    weak=0
    shift
fi
robust=(winsor:1 winsor:2 winsor:4 winsor:8)
out="$(mktemp -d)"
export WGPU_BACKEND="${WGPU_BACKEND:-vulkan}" XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
quiet() { grep -v -i -e warning -e slow_operation_alarm -e 'very slow compile' -e '^\*\*\*' || true; }
torch() { "$py" bench/peers/torch_step.py "$@"; }
jax() { "$py" bench/peers/jax_step.py "$@" 2>&1 | quiet; }

./target/release/winsor bench --rule mean "${robust[@]}" "$@" | tee "$out/winsor.md"
torch --rule mean "$@" --json "$out/torch-autograd.json"
torch --select registers --rule "${robust[@]}" "$@" --json "$out/torch-registers.json"
jax --rule mean "$@" --json "$out/jax-autograd.json"
jax --select registers --rule "${robust[@]}" "$@" --json "$out/jax-registers.json"
# the unrolled network only for k <= 4 (jax_step.py's docstring says why)
jax --select registers-unrolled --rule winsor:1 winsor:2 winsor:4 "$@" --json "$out/jax-registers-unrolled.json"
torch --select registers-compiled --rule "${robust[@]}" "$@" --json "$out/torch-registers-compiled.json"
for select in topk sort; do
    [[ $weak == 1 ]] || break
    torch --select "$select" --rule "${robust[@]}" "$@" --json "$out/torch-$select.json"
    jax --select "$select" --rule "${robust[@]}" "$@" --json "$out/jax-$select.json"
done
./target/release/winsor bench --rule mean "${robust[@]}" "$@" | tee "$out/winsor-again.md"

echo
"$py" bench/peers/summary.py "$out"
