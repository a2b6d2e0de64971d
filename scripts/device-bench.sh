#!/usr/bin/env bash
# Real-GPU benchmarks in one device call (issue 6), and the performance model's predictions
# next to what they measure (issue 16, docs/gpu-model.md).
#
#   scripts/device-bench.sh prepare   # here: build, strip the binary into .bin/, fetch the
#                                     # Vulkan loader's packages into .gl/ (both git-ignored)
#   then one device call:  command "bash scripts/device-bench.sh run",
#                          carry [".bin", ".gl"], timeout_s 590
#   scripts/device-bench.sh run       # there: winsor bench --suite, winsor profile, the
#                                     # PyTorch CUDA peer, and timed fig4/fig1 presets,
#                                     # everything into $OUT (or ./device-out); at the end
#                                     # the table predicted (docs/gpu-model.tsv) vs measured,
#                                     # also as $OUT/predicted-vs-measured.tsv
#
# `run` also works on a machine without a GPU (lavapipe), to check the script before spending
# device time: WINSOR_QUICK=1 gives small windows and a minute per step (about 7 minutes on 2
# cores), WINSOR_QUICK=ci one tiny case of each step (about a minute; .ci/run runs it). The
# binary is $WINSOR_BIN, else .bin/winsor, else target/release/winsor, else target/debug/winsor.
#
# Every step is cut off by `timeout`, and the cuts add up to 530 s, inside the call's 590:
# suite 70 (its JSON is rewritten after every case, so a cut keeps the finished cases; the
# model puts the whole suite at about half a minute on an H100), profile 30, similarity 30,
# the two kernel plans against each other 30, chunk merges 20, 1x2048 under the gpu plan 10,
# PyTorch 80, fig4 150, fig1 110 (the model puts fig4's first batch of 38 runs at about 75 s
# and fig1's 15 runs at about 110 s: docs/gpu-model.md).
# A sweep that does not stop at SIGTERM within 10 s of its cut is killed (lavapipe: an
# evaluation in progress takes minutes). Start-up is not counted in the call's limit. Exit
# status: 1 if a step failed (an exit other than 0, or a cut's 124 or 137), after every step
# has run and the table is printed.
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

# Runs a step's command; notes it in $failed (a file: a step may run in a pipeline's
# subshell) unless it exits 0 or was cut off (124).
step() {
    local name=$1
    shift
    "$@"
    local rc=$?
    if [ "$rc" != 0 ] && [ "$rc" != 124 ]; then
        echo "!! $name: exit $rc"
        echo "$name: exit $rc" >>"$failed"
    fi
    return 0
}

# Every change of a run's last logged step in a sweep folder, as "epoch run step", until
# killed: scripts/device-bench.sh turns the times at which the runs pass logged steps into
# run-steps per second (metrics.csv is rewritten at every logged step).
poll_progress() {
    local dir=$1 f s
    declare -A seen=()
    while :; do
        for f in "$dir"/*/metrics.csv; do
            [ -f "$f" ] || continue
            s=$(tail -n 1 "$f" 2>/dev/null | cut -d, -f1)
            if [ "${seen[$f]:-}" != "$s" ]; then
                seen[$f]=$s
                echo "$(date +%s.%N) $(basename "$(dirname "$f")") $s"
            fi
        done
        sleep 0.5
    done
}

# The predicted-vs-measured table: predictions from docs/gpu-model.tsv for this kind of device
# ($1: h100 or lavapipe; $2: the adapter's name), measurements from the files in $out.
compare() {
    python3 - "$out" "$1" "$2" docs/gpu-model.tsv <<'PY'
import glob, json, os, re, sys

out, kind, adapter, pred_path = sys.argv[1:5]
measured = []  # (case, quantity, plan, value, unit, source, note)

# the suite: the plan this device picks
suite = os.path.join(out, "suite.json")
if os.path.exists(suite):
    with open(suite) as f:
        s = json.load(f)
    plan = s.get("kernels", {}).get("preset", "?")
    for r in s.get("rows", []):
        q = "steps_per_s" if r["runs"] == 1 else "run_steps_per_s"
        measured.append((f"{r['arch']}-{r['rule']}-r{r['runs']}", q, plan, r["steps_per_s"],
                         "steps/s", "bench --suite", f"median of {len(r['windows'])} windows"))

# winsor bench --kernels PLAN: its markdown rows
for path in sorted(glob.glob(os.path.join(out, "plans-*.md"))):
    plan = os.path.basename(path).split("-")[1].split(".")[0]
    arch = None
    for line in open(path, errors="replace"):
        m = re.match(r"# winsor bench: (\S+) batch", line)
        if m:
            arch = m.group(1)
        m = re.match(r"\| (\S+) \| (\d+) \| ([0-9.]+) \|", line)
        if m and arch:
            runs = int(m.group(2))
            q = "steps_per_s" if runs == 1 else "run_steps_per_s"
            measured.append((f"{arch}-{m.group(1)}-r{runs}", q, plan, float(m.group(3)),
                             "steps/s", f"bench --kernels {plan}", ""))

# the timed presets: run-steps/s of each batch between logged steps >= 10000, and the whole
# sweep's hours (exact if it finished, else extrapolated)
for preset in ("fig4", "fig1"):
    prog = os.path.join(out, f"progress-{preset}.txt")
    meta = os.path.join(out, f"sweep-{preset}.meta")
    if not (os.path.exists(prog) and os.path.exists(meta)):
        continue
    m = dict(l.split("=", 1) for l in open(meta).read().split() if "=" in l)
    elapsed, rc = float(m.get("elapsed", 0)), int(m.get("rc", 1))
    cells, steps, plan = int(m.get("cells", 0)), int(m.get("steps", 0)), m.get("plan", "?")
    runs = {}
    for line in open(prog):
        p = line.split()
        if len(p) != 3:
            continue
        t, run, st = float(p[0]), p[1], p[2]
        runs.setdefault(run, {"first": t, "pts": []})
        if st.isdigit():
            runs[run]["pts"].append((t, int(st)))
    # runs of one batch write their first metrics.csv together; a batch trains for longer
    order = sorted(runs.items(), key=lambda kv: kv[1]["first"])
    batches, last = [], None
    for name, r in order:
        if last is None or r["first"] - last > 3.0:
            batches.append([])
        batches[-1].append(r)
        last = r["first"]
    t0 = float(m.get("start", 0))
    rates = []
    for i, b in enumerate(batches, 1):
        per_run = []
        for r in b:
            pts = [(t, s) for t, s in r["pts"] if s >= 10000]
            if len(pts) >= 2 and pts[-1][0] > pts[0][0]:
                per_run.append((pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0]))
        if per_run and len(per_run) == len(b):
            rate = sum(per_run)
            rates.append(rate)
            measured.append((f"{preset}-batch{i}", "run_steps_per_s", plan, rate, "run-steps/s",
                             "sweep --preset " + preset,
                             f"{len(b)} runs, between logged steps >= 10000"))
    done = sum(r["pts"][-1][1] for r in runs.values() if r["pts"])
    total = cells * steps
    if rc == 0 and total:
        measured.append((f"{preset}-full", "sweep_hours", plan, elapsed / 3600, "h",
                         "sweep --preset " + preset, "finished: the whole sweep's wall time"))
    elif rates and total:
        hours = (elapsed + max(total - done, 0) / rates[-1]) / 3600
        note = (f"extrapolated: {done}/{total} run-steps in {elapsed:.0f} s, the rest at batch "
                f"{len(rates)}'s rate")
        if len(batches) < -(-cells // max(len(batches[0]), 1)):
            note += "; later batches not reached (fig4's hold the costlier rules)"
        measured.append((f"{preset}-full", "sweep_hours", plan, hours, "h",
                         "sweep --preset " + preset, note))
    else:
        print(f"{preset}: {done} run-steps logged in {elapsed:.0f} s, too few past step 10000 "
              f"for a rate")

# the similarity measurement: the median over the measurements after the first of the log
# line's "GPU pass and readback" (the first also forms the pixels' Gram matrix, once a run)
for path in sorted(glob.glob(os.path.join(out, "similarity-*-n*.log"))):
    case = os.path.basename(path)[len("similarity-"):-len(".log")]
    arch, n = case.rsplit("-n", 1)
    ms = [float(m.group(1)) for m in
          (re.search(r"GPU pass and readback ([0-9.]+) ms", l) for l in open(path, errors="replace"))
          if m]
    later = sorted(ms[1:]) or ms
    if later:
        measured.append((f"{arch}-similarity-n{n}", "ms_per_measurement", "gpu",
                         later[len(later) // 2], "ms", "train --similarity",
                         f"median of {len(later)} measurements" + ("" if ms[1:] else " (the first only)")))

# per-dispatch GPU times of `winsor profile --trace` (the median over the profiled steps), where
# the dispatch list is the one the model predicts (the gpu plan), and the overhead per dispatch
# that a step's time has beyond them
pred_rows = [l.rstrip("\n").split("\t") for l in open(pred_path)]
for case, trace in (("3x256-winsor:8-r1", "trace-3x256-winsor8.json"),
                    ("1x2048-mean-r1", "trace-1x2048-mean.json")):
    path = os.path.join(out, trace)
    # the model's dispatch list (the h100 rows; it is the plan's, whatever the device)
    want = [p[1] for p in pred_rows if len(p) >= 6 and p[0] == case and p[1].startswith("gpu_us.")
            and p[4] == "h100"]
    if not (want and os.path.exists(path)):
        continue
    try:
        ev = [e for e in json.load(open(path))["traceEvents"] if e.get("ph") == "X"]
    except (ValueError, KeyError) as e:
        print(f"{trace}: not a trace ({e})")
        continue
    names = [w.split(".", 2)[2] for w in want]
    n = len(names)
    steps = [ev[i:i + n] for i in range(0, len(ev) - n + 1, n)]
    if not steps or any([e["name"] for e in s] != names for s in steps):
        print(f"{trace}: its dispatches are not the model's ({len(ev)} in all; the plan differs?)")
        continue
    gpu = 0.0
    for i, w in enumerate(want):
        ts = sorted(s[i]["dur"] for s in steps)
        med = ts[len(ts) // 2]
        gpu += med
        measured.append((case, w, "gpu", med, "us", "profile --trace",
                         f"median of {len(steps)} steps"))
    measured.append((case, "gpu_step_us", "gpu", gpu, "us", "profile --trace",
                     f"the dispatches' medians over {len(steps)} steps, summed"))
    rates = [x for x in measured if x[0] == case and x[1] == "steps_per_s" and x[2] == "gpu"]
    if rates:
        r = rates[0]
        measured.append((case, "overhead_us_per_dispatch", "gpu", (1e6 / r[3] - gpu) / n, "us",
                         f"{r[5]} + profile", f"step {1e6 / r[3]:.1f} us, GPU {gpu:.1f} us"))

# ratios of two cases measured by the same source in this run (load-independent on lavapipe)
for src in sorted({x[5] for x in measured}):
    got = {(x[0], x[1], x[2]): x[3] for x in measured if x[5] == src}
    for (c1, q1, p1), v1 in got.items():
        for (c2, q2, p2), v2 in got.items():
            if p1 == p2 and q1 == q2 in ("steps_per_s", "gpu_step_us") and c1 != c2 and v2 > 0:
                measured.append((f"{c1}/{c2}", f"{q1}_ratio", p1, v1 / v2, "ratio", src,
                                 "both from this source"))

# predictions for this kind of device, each next to every measurement of it
rows = []
for line in open(pred_path):
    p = line.rstrip("\n").split("\t")
    if len(p) < 6 or p[0] == "case" or p[4] != kind:
        continue
    case, q, pred, unit, _, plan = p[:6]
    hits = [x for x in measured if x[0] == case and x[1] == q and x[2] == plan]
    if not hits:
        rows.append((case, q, plan, float(pred), None, unit, "-", "not measured in this run"))
    for h in hits:
        rows.append((case, q, plan, float(pred), h[3], unit, h[5], h[6]))

def num(x):
    return "-" if x is None else (f"{x:.3f}" if x < 10 else f"{x:.1f}")

with open(os.path.join(out, "predicted-vs-measured.tsv"), "w") as f:
    f.write("case\tquantity\tplan\tpredicted\tmeasured\tunit\tmeasured/predicted\tsource\tnote\n")
    for case, q, plan, pred, meas, unit, src, note in rows:
        ratio = "-" if meas is None or pred == 0 else f"{meas / pred:.3f}"
        f.write(f"{case}\t{q}\t{plan}\t{pred}\t{'' if meas is None else meas}\t{unit}\t{ratio}\t{src}\t{note}\n")
print(f"predictions for: {kind} (docs/gpu-model.md); this device: {adapter}")
if kind == "h100" and "H100" not in adapter:
    print("  (the predictions are for an H100 SXM; an H200 has the same SMs and clock and more "
          "memory bandwidth, which the model says changes these numbers by a few percent)")
print("| case | quantity | plan | predicted | measured | unit | measured/predicted | source | note |")
print("|---|---|---|---|---|---|---|---|---|")
for case, q, plan, pred, meas, unit, src, note in rows:
    ratio = "-" if meas is None or pred == 0 else f"{meas / pred:.3g}x"
    print(f"| {case} | {q} | {plan} | {num(pred)} | {num(meas)} | {unit} | {ratio} | {src} | {note} |")
print(f"wrote {os.path.join(out, 'predicted-vs-measured.tsv')}")
PY
}

run() {
    out="${OUT:-device-out}"
    mkdir -p "$out"
    log="$out/device-bench.log"
    failed="$out/failed-steps.txt"
    rm -f "$failed"
    exec > >(tee -a "$log") 2>&1
    bin=${WINSOR_BIN:-}
    for b in ./.bin/winsor ./target/release/winsor ./target/debug/winsor; do
        [ -n "$bin" ] && break
        [ -x "$b" ] && bin=$b
    done
    if [ -z "$bin" ] || [ ! -x "$bin" ]; then
        echo "no winsor binary (WINSOR_BIN, .bin/winsor, target/release or target/debug): build first" >&2
        exit 1
    fi
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
    mode=full
    case "${WINSOR_QUICK:-0}" in
        1) mode=quick ;;
        ci) mode=ci ;;
    esac
    case $mode in
        full) windows="--window 100 --windows 5 --warmup 20"; steps=100; warm="" ;;
        quick) windows="--window 5 --windows 2 --warmup 2"; steps=3; warm="--warmup 1" ;;
        ci) windows="--window 1 --windows 1 --warmup 1"; steps=1; warm="--warmup 1" ;;
    esac
    # seconds for a step: its share of the budget above ($1), a minute when quick, $2 in ci
    budget() {
        case $mode in
            full) echo "$1" ;;
            quick) echo 60 ;;
            ci) echo "$2" ;;
        esac
    }
    start_all=$(date +%s)
    # the binary names the commit it was built from (build.rs); the suite's rows carry it
    echo "== $(date -u +%FT%TZ) $("$bin" --version) ($bin, mode $mode)"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null
    "$bin" adapters | tee "$out/adapters.txt"
    # which predictions apply: a real GPU gets the H100's, a CPU driver lavapipe's
    # (winsor's default adapter is the first real GPU, else any)
    if grep -qE 'DiscreteGpu|IntegratedGpu|VirtualGpu' "$out/adapters.txt"; then
        kind=h100
        adapter=$(grep -E 'DiscreteGpu|IntegratedGpu|VirtualGpu' "$out/adapters.txt" | head -n 1)
    else
        kind=lavapipe
        adapter=$(head -n 1 "$out/adapters.txt")
    fi
    adapter=${adapter#*: }

    echo "== winsor bench --suite"
    # shellcheck disable=SC2086
    step suite timeout "$(budget 70 10)" "$bin" bench --suite $windows --json "$out/suite.json"

    # under the gpu plan, whose dispatches docs/gpu-model.md lists (on a GPU the plan auto
    # picks anyway); on lavapipe a step of it takes seconds, hence few steps when quick
    echo "== winsor profile --kernels gpu (3x256 winsor:8, 1x2048 mean: the model's two cases)"
    # shellcheck disable=SC2086
    step profile timeout "$(budget 15 10)" "$bin" profile --kernels gpu --rule winsor:8 \
        --steps "$steps" $warm --trace "$out/trace-3x256-winsor8.json"
    # shellcheck disable=SC2086
    step "profile 1x2048" timeout "$(budget 15 16)" "$bin" profile --kernels gpu --arch 1x2048 \
        --rule mean --steps "$steps" $warm --trace "$out/trace-1x2048-mean.json"

    # the similarity measurement (issue 28) under the gpu plan: the log line times each one's
    # GPU pass and readback; the first also forms the pixels' Gram matrix, so the table takes
    # the median of the later ones (in ci mode a small probe on a small set, to run the step)
    echo "== winsor train --similarity (the measurement's time per call)"
    for arch in 3x256 1x2048; do
        n=1000
        sim="--steps 50 --log-grid every:10"
        [ $mode = ci ] && n=64 && sim="--steps 2 --log-grid every:1 --train-subset 500 --test-subset 200"
        [ $mode = ci ] && [ $arch = 1x2048 ] && continue
        simdir=$(mktemp -d)
        # shellcheck disable=SC2086
        step "similarity $arch" timeout "$(budget 15 20)" "$bin" train --kernels gpu --arch "$arch" \
            --noise 50 --similarity "$n" $sim --out "$simdir/run" >"$out/similarity-$arch-n$n.log" 2>&1
        grep -m 3 'similarity:' "$out/similarity-$arch-n$n.log"
        rm -rf "$simdir"
    done

    echo "== kernel plans on this device, in one run: --kernels gpu against --kernels cpu"
    rules="mean winsor:1 winsor:8"
    [ $mode = ci ] && rules="winsor:8"
    for plan in gpu cpu; do
        # shellcheck disable=SC2086
        step "bench --kernels $plan" timeout "$(budget 15 8)" "$bin" bench --kernels "$plan" \
            --rule $rules $windows | tee "$out/plans-$plan.md"
    done
    # the cpu plan's chunk merges (13.2 min/max per value at winsor:8 instead of 34) under
    # the gpu plan, which leaves them off until a device has measured them (not in CI mode:
    # the kernel tests run both on lavapipe)
    if [ $mode != ci ]; then
        for cm in off on; do
            # shellcheck disable=SC2086
            step "bench --kernels gpu --chunk-merge $cm" timeout "$(budget 10 8)" "$bin" bench \
                --kernels gpu --chunk-merge "$cm" --rule winsor:4 winsor:8 $windows \
                | tee "$out/gpu-chunk-merge-$cm.md"
        done
    fi
    # the model's second case (docs/gpu-model.md) under the gpu plan, on any device
    # shellcheck disable=SC2086
    step "bench --kernels gpu 1x2048" timeout "$(budget 10 20)" "$bin" bench --kernels gpu \
        --arch 1x2048 --rule mean $windows | tee "$out/plans-gpu-1x2048.md"

    echo "== PyTorch peer"
    if ! command -v python3 >/dev/null 2>&1; then
        echo "PyTorch peer skipped: no python3 here"
    elif ! python3 -c 'import torch, numpy' 2>/dev/null; then
        echo "PyTorch peer skipped: torch (or numpy) is not importable here (pip install torch numpy)"
    else
        device=cpu
        python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null && device=cuda
        # every rule with the peer's default selection (torch.topk); on a CPU (quick, ci) only
        # two, as its winsorized steps take seconds there and it prints at the end
        peer_rules="mean winsor:1 winsor:2 winsor:4 winsor:8"
        [ "$device" = cpu ] && [ $mode != full ] && peer_rules="mean winsor:8"
        # shellcheck disable=SC2086
        step "torch peer" timeout "$(budget 45 20)" python3 bench/peers/torch_step.py --device "$device" \
            --rule $peer_rules $windows --json "$out/torch.json"
        # and the running max/min variant (the strongest peer, DESIGN.md), where the peer has it
        if grep -q registers bench/peers/torch_step.py; then
            # shellcheck disable=SC2086
            peer_rules="winsor:1 winsor:2 winsor:4 winsor:8"
            [ "$device" = cpu ] && [ $mode != full ] && peer_rules="winsor:8"
            # shellcheck disable=SC2086
            step "torch peer --select registers" timeout "$(budget 35 20)" python3 bench/peers/torch_step.py \
                --device "$device" --select registers --rule $peer_rules $windows \
                --json "$out/torch-registers.json"
        else
            echo "torch_step.py has no --select registers yet: that variant skipped"
        fi
    fi

    echo "== presets at full scale, each cut off (the sweep keeps finished runs)"
    for preset in fig4 fig1; do
        dir=$(mktemp -d "/tmp/device-$preset.XXXXXX")
        start=$(date +%s.%N)
        limit=$(budget 150 4)
        [ "$preset" = fig1 ] && limit=$(budget 110 4)
        poll_progress "$dir" >"$out/progress-$preset.txt" &
        poller=$!
        # a sweep stops at SIGTERM only between submissions and evaluations (it writes
        # checkpoints first); on lavapipe one evaluation of 8 runs takes minutes, so KILL after
        # a grace period
        grace=10
        [ $mode = ci ] && grace=2
        timeout -k "$grace" "$limit" "$bin" sweep --preset "$preset" --out "$dir" \
            >/dev/null 2>"$out/sweep-$preset.log"
        rc=$?
        kill "$poller" 2>/dev/null
        wait "$poller" 2>/dev/null
        elapsed=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
        done_runs=$(ls "$dir"/*/summary.json 2>/dev/null | wc -l)
        # the last logged step of every run, finished or not: how far the sweep got
        logged=$(for f in "$dir"/*/metrics.csv; do [ -f "$f" ] && tail -n 1 "$f" | cut -d, -f1; done | awk '{ s += $1 } END { print s + 0 }')
        cells=$(sed -n 's/^sweep [^:]*: \([0-9]*\) runs.*/\1/p' "$out/sweep-$preset.log" | head -n 1)
        first=$(ls -d "$dir"/*/ 2>/dev/null | head -n 1)
        runsteps=$(sed -n 's/^steps = \([0-9]*\).*/\1/p' "${first}config.toml" 2>/dev/null | head -n 1)
        plan=$(sed -n 's/^preset = "\([a-z]*\)".*/\1/p' "${first}config.toml" 2>/dev/null | head -n 1)
        echo "start=$start elapsed=$elapsed rc=$rc cells=${cells:-0} steps=${runsteps:-0} plan=${plan:-?}" >"$out/sweep-$preset.meta"
        echo "$preset: $done_runs runs finished, $logged run-steps logged, in $elapsed s (exit $rc; 124 = cut off, 137 = killed after the grace)"
        if [ "$rc" != 0 ] && [ "$rc" != 124 ] && [ "$rc" != 137 ]; then
            echo "sweep $preset: exit $rc" >>"$failed"
            tail -n 5 "$out/sweep-$preset.log"
        fi
        [ "${WINSOR_KEEP_SWEEPS:-0}" = 1 ] || rm -rf "$dir"
    done

    echo "== predicted (docs/gpu-model.tsv, $kind) against measured"
    if ! command -v python3 >/dev/null 2>&1; then
        echo "no python3: no predicted-vs-measured table"
        [ $mode = ci ] && echo "table: no python3" >>"$failed"
    else
        step table compare "$kind" "$adapter"
    fi
    echo "== done $(date -u +%FT%TZ), $(( $(date +%s) - start_all )) s"
    if [ -s "$failed" ]; then
        sed 's/^/failed: /' "$failed"
        exit 1
    fi
}

case "${1:-}" in
    prepare) prepare ;;
    run) run ;;
    *) echo "usage: $0 prepare|run" >&2; exit 2 ;;
esac
