#!/usr/bin/env bash
# Real-GPU benchmarks in one device call (issue 6).
#
#   scripts/device-bench.sh prepare   # here: build, strip the binary into .bin/, fetch the
#                                     # Vulkan loader's packages into .gl/ (both git-ignored)
#   then one device call:  command "bash scripts/device-bench.sh run",
#                          carry [".bin", ".gl"], timeout_s 590
#   scripts/device-bench.sh run       # there: winsor bench --suite, winsor profile, the
#                                     # PyTorch CUDA peer, and timed fig4/fig1 presets,
#                                     # everything into $OUT (or ./device-out)
#
# `run` also works on a machine without a GPU (lavapipe), with WINSOR_QUICK=1 for small
# windows, to check the script before spending device time. Every step is cut off by
# `timeout`, and the cuts add up to 520 s, inside the call's 590: suite 150 (its JSON is
# rewritten after every case, so a cut keeps the finished cases), profile 40, the two kernel
# plans against each other 40, PyTorch 80, fig4 110, fig1 100. Start-up is not counted in
# the call's limit.
set -uo pipefail
cd "$(dirname "$0")/.."

prepare() {
    set -e
    cargo build --release
    mkdir -p .bin
    strip -o .bin/winsor target/release/winsor
    if [ ! -d .gl ] || ! ls .gl/*.deb >/dev/null 2>&1; then
        mkdir -p .gl /tmp/amd64/partial
        o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
        # shellcheck disable=SC2086
        apt-get $o update -qq
        # shellcheck disable=SC2086
        (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
    fi
    du -sh .bin .gl
    echo 'ready: device run with command "bash scripts/device-bench.sh run", carry [".bin", ".gl"], timeout_s 590'
}

run() {
    out="${OUT:-device-out}"
    mkdir -p "$out"
    log="$out/device-bench.log"
    exec > >(tee -a "$log") 2>&1
    bin=./.bin/winsor
    [ -x "$bin" ] || bin=./target/release/winsor
    # the Vulkan loader, where the machine lacks one
    if ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1 && ls .gl/*.deb >/dev/null 2>&1; then
        for f in .gl/*.deb; do dpkg -x "$f" /; done
        ldconfig
    fi
    if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
        export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    fi
    export WGPU_BACKEND=vulkan PYTHONUNBUFFERED=1
    export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
    if [ "${WINSOR_QUICK:-0}" = 1 ]; then
        windows="--window 5 --windows 2 --warmup 2"; steps=20; scale=60
    else
        windows="--window 100 --windows 5 --warmup 20"; steps=100; scale=1
    fi
    # seconds for a step: its share of the budget above, or a minute each when quick
    budget() { if [ "$scale" = 1 ]; then echo "$1"; else echo "$scale"; fi; }
    # the binary names the commit it was built from (build.rs); the suite's rows carry it
    echo "== $(date -u +%FT%TZ) $("$bin" --version)"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null
    "$bin" adapters
    echo "== winsor bench --suite"
    # shellcheck disable=SC2086
    timeout "$(budget 150)" "$bin" bench --suite $windows --json "$out/suite.json"
    echo "== winsor profile (3x256 winsor:8)"
    timeout "$(budget 40)" "$bin" profile --rule winsor:8 --steps "$steps" --trace "$out/trace-winsor8.json"
    echo "== kernel plans on this device, in one run: --kernels gpu against --kernels cpu"
    for plan in gpu cpu; do
        # shellcheck disable=SC2086
        timeout "$(budget 20)" "$bin" bench --kernels "$plan" --rule mean winsor:1 winsor:8 $windows
    done
    echo "== PyTorch peer"
    device=cpu
    python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null && device=cuda
    # shellcheck disable=SC2086
    timeout "$(budget 80)" python3 bench/peers/torch_step.py --device "$device" --rule mean winsor:1 winsor:8 \
        $windows --json "$out/torch.json"
    echo "== presets at full scale, each cut off (the sweep keeps finished runs)"
    for preset in fig4 fig1; do
        start=$(date +%s)
        limit=$(budget 110)
        [ "$preset" = fig1 ] && limit=$(budget 100)
        timeout "$limit" "$bin" sweep --preset "$preset" --out "/tmp/device-$preset" >/dev/null 2>"$out/sweep-$preset.log"
        rc=$?
        done_runs=$(ls /tmp/device-$preset/*/summary.json 2>/dev/null | wc -l)
        # the last logged step of every run, finished or not: how far the sweep got
        logged=$(for f in /tmp/device-"$preset"/*/metrics.csv; do [ -f "$f" ] && tail -n 1 "$f" | cut -d, -f1; done | awk '{ s += $1 } END { print s + 0 }')
        echo "$preset: $done_runs runs finished, $logged run-steps logged, in $(( $(date +%s) - start )) s (exit $rc; 124 = cut off)"
    done
    echo "== done $(date -u +%FT%TZ)"
}

case "${1:-}" in
    prepare) prepare ;;
    run) run ;;
    *) echo "usage: $0 prepare|run" >&2; exit 2 ;;
esac
