#!/usr/bin/env python3
"""The performance model of docs/gpu-model.md: every dispatch of a training step under the gpu
kernel plan, its work, and a predicted time on an H100 SXM; the sweep presets at full scale.

    python3 docs/gpu-model.py           # the tables of docs/gpu-model.md (markdown)
    python3 docs/gpu-model.py --tsv     # docs/gpu-model.tsv (what scripts/device-bench.sh reads)
    python3 docs/gpu-model.py --lavapipe A.json B.json
        # the lavapipe check: A and B are `winsor profile --kernels gpu --trace` of 3x256
        # winsor:8 and of 1x2048 mean; calibrates one rate per kernel class on A, predicts B

Derived by hand from src/gpu/trainer/{step,layers,eval,capacity}.rs, src/gpu/plan.rs (gpu()),
src/gpu/kernels/*.rs, shaders/*.wgsl, src/sweep/ and src/train/ at 6e0bea5 (with the checkpoint
work in progress); every constant below is an assumption stated in docs/gpu-model.md. Python 3
standard library only. Regenerate docs/gpu-model.tsv after changing anything here.
"""

import sys

# ---------------------------------------------------------------- the device (H100 SXM5)
SMS = 132                 # streaming multiprocessors
SCHED = 4                 # warp schedulers per SM
CLOCK = 1.98e9            # boost clock; 132 SMs x 128 FP32 lanes x 2 x 1.98 GHz = 66.9 TFLOP/s
PEAK = 66.9e12            # FP32 FLOP/s, an FMA counted as 2
SLOTS = PEAK / 2          # FP32 lane-instructions per second (FMA, add, mul, min or max: 1 each)
BW = 3.35e12              # HBM3 bytes/s

# ---------------------------------------------------------------- the model's assumptions
T_LAUNCH = 5e-6           # per dispatch: launch + the barrier wgpu puts between dispatches
E_MM = 0.35               # tiled matmul: fraction of FP32 FMA peak at full occupancy
E_SEL = 0.90              # selection: fraction of FP32 issue slots used by its issued instructions
E_BW = 0.70               # fraction of HBM bandwidth for streaming kernels
W_SAT_MM = 2              # matmul: warps per scheduler (one 256-invocation workgroup per SM)
                          # needed to reach E_MM; fewer SMs busy scale it down
W_SAT_SEL = 1             # selection: one warp per scheduler issues at E_SEL (16 independent
                          # min/max chains per invocation); its serial path is a floor
L2_LAT = 300 / CLOCK      # one exposed L2-hit load latency (about 300 cycles)
MAX_BINDING = 2 ** 31     # storage-binding limit assumed on the NVIDIA Vulkan driver (>= 2 GiB)
MINMAX_HALF_RATE = False  # True: FMNMX issues at 64 lanes/clk/SM (half the FP32 rate)

B = 100
CLASSES = 10


def cdiv(a, b):
    return -(-a // b)


# ---------------------------------------------------------------- rules (src/rule.rs, select_partial.rs)
def nearest_rank(q, n):
    return int(round((n - 1) * q / 100.0))  # round half to even, as round_ties_even


def clip_counts(rule, b=B):
    if rule.startswith("winsor:"):
        c = float(rule.split(":")[1])
        lo, hi = nearest_rank(c, b), nearest_rank(100.0 - c, b)
        return lo, b - 1 - hi
    return 0, 0


def per_example(rule):
    return rule != "mean"


def partial_shape(rule, b=B):
    """(KL, KH, units R, keeps order statistics): PartialShape::new under Units::Budget(48)."""
    k_lo, k_hi = clip_counts(rule, b)
    assert max(k_lo, k_hi) <= 16, "the gpu plan sorts beyond k = 16 (not modelled)"
    kept = 1 if k_lo + k_hi == 0 else k_lo + k_hi + 2
    units = next((u for u in (8, 4, 2, 1) if u * kept <= 48), 1)
    kl, kh = k_lo + 1, k_hi + 1
    keeps = kl > 1 or kh > 1
    return kl, kh, units, keeps


# ---------------------------------------------------------------- dispatches
class D:
    """One dispatch over `runs` runs. flops: nominal FP32 FLOPs (FMA = 2); flops_exec: those
    executed (padded tiles); minmax: min/max ops; slots: issued FP32+integer lane-instruction
    slots (selection only); bytes: compulsory global reads + writes; warps: warps with work."""

    def __init__(self, name, what, groups, warps, flops=0.0, flops_exec=None, minmax=0.0,
                 slots=0.0, bytes_=0.0, floor=0.0, kind="mem", l2_bytes=None):
        self.name, self.what, self.groups, self.warps = name, what, groups, warps
        self.flops = flops
        self.flops_exec = flops if flops_exec is None else flops_exec
        self.minmax, self.slots, self.bytes, self.floor, self.kind = minmax, slots, bytes_, floor, kind
        self.l2_bytes = bytes_ if l2_bytes is None else l2_bytes

    def fill(self):
        w_sat = W_SAT_SEL if self.kind == "sel" else W_SAT_MM
        return min(1.0, self.warps / (SMS * SCHED * w_sat))

    def times(self, launch=T_LAUNCH, half_rate=MINMAX_HALF_RATE):
        u = self.fill()
        floor = self.floor
        if self.kind == "mm":
            tc = self.flops_exec / (E_MM * PEAK * u)
        elif self.kind == "sel":
            extra = self.minmax_issued if half_rate else 0.0
            tc = (self.slots + extra) / (E_SEL * SLOTS * u)
            if half_rate:
                floor += self.minmax_issued / self.warps / 32 / CLOCK
        else:
            tc = 0.0
        tm = self.bytes / (E_BW * BW)
        return tc, tm, floor, launch + max(tc, tm, floor)

    def time(self, **kw):
        return self.times(**kw)[3]


def matmul(what, m, n, k, epilogue, runs):
    """shaders/matmul/matmul.wgsl: 64x64 tiles, TK = 16, 256 invocations, grid [n/64, m/64, runs]."""
    g = cdiv(n, 64) * cdiv(m, 64) * runs
    mp, np_, kp = cdiv(m, 64) * 64, cdiv(n, 64) * 64, cdiv(k, 16) * 16
    a, bb, c = 4 * m * k, 4 * k * n, 4 * m * n
    extra = {"bias": 4 * n, "mask": 4 * m * n, "scale": 0}[epilogue]
    l2 = a * cdiv(n, 64) + bb * cdiv(m, 64) + c + extra
    return D("matmul", what, g, g * 8, flops=2.0 * m * n * k * runs,
             flops_exec=2.0 * mp * np_ * kp * runs, bytes_=(a + bb + c + extra) * runs,
             kind="mm", l2_bytes=l2 * runs)


def select(l, fi, fo, rule, runs):
    """shaders/select/select_partial.wgsl (rows orientation; the gpu plan has dense inputs): one
    invocation per 4 inputs (+1 for the bias), R output units per workgroup row, fused SGD."""
    kl, kh, r, keeps = partial_shape(rule)
    blocks = cdiv(fi, 4)
    lanes = blocks + 1                                  # + the bias invocation
    gx, gy = cdiv(lanes, 64), cdiv(fo, r)
    warps = cdiv(lanes, 32) * gy * runs                 # warps with at least one live lane
    mm_per_value = (2 * kl - 1) + (2 * kh - 1) if keeps else 0
    coords = fo * (fi + 1)
    vec_d = fo % 4 == 0 and r % 4 == 0
    d_loads = cdiv(r, 4) if vec_d else r
    fp_per_example = r * 4 * (mm_per_value + 2)         # min/max + the product d*a + the sum
    int_per_example = 6 + 3 * d_loads                   # index math, bounds clamps, loads
    finish = r * 4 * ((kl + kh) + 8) + 20               # sums of kept values, clipped mean, RMW
    per_thread = B * (fp_per_example + int_per_example) + finish
    slots = warps * 32 * per_thread
    minmax = coords * B * mm_per_value * runs
    flops = coords * B * 2.0 * runs                     # the products and sums
    bytes_ = (4 * B * fo + 4 * B * fi + 8 * coords) * runs   # d, a read; parameters read+written
    # the serial path of one invocation: its instructions issued one per cycle, plus one
    # exposed L2 latency per loop iteration (two examples; the loads are at its top)
    floor = per_thread / CLOCK + (B / 2) * L2_LAT
    what = f"layer {l} ({fi}+1)x{fo}, {rule}: KL=KH={kl}, R={r}" + ("" if keeps else ", sum only")
    d = D("select_partial", what, gx * gy * runs, warps, flops=flops, minmax=minmax,
          slots=slots, bytes_=bytes_, floor=floor, kind="sel")
    d.cex = (coords * B * ((kl - 1) + (kh - 1)) * runs) if keeps else 0  # full compare-exchanges
    d.minmax_issued = warps * 32 * B * r * 4 * mm_per_value  # lane slots of min/max issued
    return d


def gather(rows, dim, runs):
    g = cdiv(dim, 256) * rows * runs
    by = (rows * dim + 8 * rows + 4 * rows * dim + 4 * rows) * runs
    return D("gather", f"{rows} rows x {dim} u8 -> f32", g, g * 2, flops=rows * dim * runs,
             bytes_=by, floor=2 * L2_LAT + 0.5e-6)


def softmax(rows, train, runs):
    g = cdiv(rows, 64) * runs
    by = (4 * rows * CLASSES + 4 * rows + (4 * rows * CLASSES if train else 0) + 8 * rows) * runs
    return D("softmax_xent", f"{rows} rows x {CLASSES}", g, cdiv(rows, 32) * runs,
             flops=rows * CLASSES * 8 * runs, bytes_=by, floor=4 * L2_LAT + 1e-6)


def bias_grad(l, width, runs):
    g = cdiv(width, 64) * runs
    return D("bias_grad", f"layer {l}: {width} sums of {B}", g, cdiv(width, 32) * runs,
             flops=B * width * runs, bytes_=(4 * B * width + 4 * width) * runs,
             floor=cdiv(B, 4) * L2_LAT)


def batch_stats(runs):
    return D("batch_stats", f"sum of {B} losses, 1 workgroup", runs, 8 * runs,
             flops=2 * B * runs, bytes_=(8 * B + 8) * runs, floor=2 * L2_LAT + 1e-6)


def sgd(params, runs):
    g = cdiv(params, 256) * runs
    return D("sgd", f"{params} parameters", g, g * 8, flops=2 * params * runs,
             bytes_=12 * params * runs, floor=2 * L2_LAT + 0.3e-6)


def n_params(widths):
    return sum(widths[i + 1] * (widths[i] + 1) for i in range(len(widths) - 1))


def step(widths, groups):
    """src/gpu/trainer/step.rs::build under KernelPlan::gpu(), one row chunk. groups: [(rule,
    runs)] in run order (consecutive runs with one rule share the aggregation dispatches)."""
    runs = sum(c for _, c in groups)
    L = len(widths) - 1
    out = [gather(B, widths[0], runs)]
    for l in range(L):
        fi, fo = widths[l], widths[l + 1]
        out.append(matmul(f"forward {l}: {B}x{fi} . {fi}x{fo}", B, fo, fi, "bias", runs))
    out.append(softmax(B, True, runs))
    fused_all = True
    for l in reversed(range(L)):
        fi, fo = widths[l], widths[l + 1]
        if l > 0:
            out.append(matmul(f"backprop {l}: {B}x{fo} . {fo}x{fi}, relu' mask", B, fi, fo, "mask", runs))
        for rule, count in groups:
            if per_example(rule):
                out.append(select(l, fi, fo, rule, count))
            else:
                fused_all = False
                out.append(matmul(f"grad {l}: {fo}x{B} . {B}x{fi}", fo, fi, B, "scale", count))
                out.append(bias_grad(l, fo, count))
    out.append(batch_stats(runs))
    if not fused_all:
        # one SGD dispatch for all runs when no group fused it (step.rs::sgd)
        if all(not per_example(r) for r, _ in groups):
            out.append(sgd(n_params(widths), runs))
        else:
            for rule, count in groups:
                if not per_example(rule):
                    out.append(sgd(n_params(widths), count))
    return out


def eval_rows(widths, runs, eval_chunk=10000):
    """Capacity::new: rows per evaluation chain."""
    widest, total = max(widths), sum(widths)
    return min(eval_chunk, (MAX_BINDING // runs - 256) // (widest * 4),
               max((1 << 30) // (runs * total * 4), B))


def evaluation(widths, runs, n_train=60000, n_test=10000):
    """src/gpu/trainer/eval.rs: the forward chain over both splits in chunks of `rows`."""
    rows = eval_rows(widths, runs)
    out = []
    for n in (n_train, n_test):
        for base in range(0, n, rows):
            r = min(rows, n - base)
            out.append(gather(r, widths[0], runs))
            for l in range(len(widths) - 1):
                out.append(matmul(f"eval forward {l}", r, widths[l + 1], widths[l], "bias", runs))
            out.append(softmax(r, False, runs))
    return rows, out


def total(ds, **kw):
    return sum(d.time(**kw) for d in ds)


# ---------------------------------------------------------------- sweeps (src/sweep)
def paper_grid(steps):
    """LogGrid::Paper: 0-9, 10-90, ..., 1000-9000, every 10000, plus the last step."""
    s, n = set(), 0
    for x in range(steps + 1):
        unit = 1 if x < 10 else 10 if x < 100 else 100 if x < 1000 else 1000 if x < 10000 else 10000
        if x % unit == 0:
            s.add(x)
    s.add(steps)
    return len(s)


def split(n, per_batch):
    """batches::split: near-equal batches."""
    nb = cdiv(n, per_batch)
    base, extra = n // nb, n % nb
    return [base + (1 if k < extra else 0) for k in range(nb)]


# host costs per batch that the GPU model does not cover: trainer set-up with its pipeline
# compilations, and per run the final outputs (weights, examples.csv, summary.json)
T_BATCH_SETUP = 3.0
T_RUN_FINISH = 0.3
T_EVAL_HOST = 0.003       # per run and evaluation: 4 readbacks (70000 x 8 bytes), the metrics row,
                          # metrics.csv rewritten with fsync (0.5 ms on the dev machine)
T_SWEEP_SETUP = 2.0       # data load and device start
T_CKPT = {"3x256": 0.005, "1x2048": 0.015}  # per run and checkpoint (each logged step from 100
                          # on): parameters read back, 60000 x 2 learning steps, safetensors
                          # written with fsync (2.3 MB for 3x256, 7.5 MB for 1x2048)


def checkpoints(steps):
    """CheckpointEvery::Logged: at each logged step past the first 100 (100 included)."""
    n = 0
    for x in range(100, steps + 1):
        unit = 100 if x < 1000 else 1000 if x < 10000 else 10000
        if x % unit == 0 or x == steps:
            n += 1
    return n


def sweep(name, widths, cells_by_rule, steps, concurrent=64, **kw):
    """cells_by_rule: [(rule, cells)] in the sweep's sorted rule order. Returns (hours, rows)."""
    cells = [r for r, c in cells_by_rule for _ in range(c)]
    evals = paper_grid(steps)
    t_ckpt = T_CKPT["3x256" if len(widths) == 5 else "1x2048"] * checkpoints(steps)
    t, rows, first = T_SWEEP_SETUP, [], 0
    for size in split(len(cells), concurrent):
        batch = cells[first:first + size]
        first += size
        groups = []
        for r in batch:
            if groups and groups[-1][0] == r:
                groups[-1][1] += 1
            else:
                groups.append([r, 1])
        st = step(widths, [tuple(g) for g in groups])
        t_step = total(st, **kw)
        erows, ev = evaluation(widths, size)
        t_eval = total(ev, **kw) + T_EVAL_HOST * size
        tb = T_BATCH_SETUP + steps * t_step + evals * t_eval + (T_RUN_FINISH + t_ckpt) * size
        # what scripts/device-bench.sh measures: run-steps/s between two logged steps 10000
        # apart (10000 training steps and one evaluation and checkpoint)
        steady = size * 10000 / (10000 * t_step + t_eval + t_ckpt / checkpoints(steps) * size)
        rows.append((size, groups, len(st), t_step, erows, len(ev), t_eval, tb, steady))
        t += tb
    return t / 3600, evals, rows


FIG4 = ("3x256", [784, 256, 256, 256, 10], [(f"winsor:{c}", 15) for c in (0, 1, 2, 4, 8)], 60000)
FIG1 = ("1x2048", [784, 2048, 10], [("mean", 15)], 100000)
W3 = [784, 256, 256, 256, 10]
W1 = [784, 2048, 10]


# ---------------------------------------------------------------- output
def us(x):
    return f"{x * 1e6:.1f}"


def fmt(x):
    if x == 0:
        return "0"
    for unit, f in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= f:
            return f"{x / f:.2f} {unit}"
    return f"{x:.0f}"


def table(title, ds, runs=1, step_line=True):
    print(f"#### {title}\n")
    print("| # | kernel | what | workgroups | warps | FLOPs nominal (executed) | min/max ops "
          "(compare-exchanges) | bytes (L2-level) | fill | t_compute us | t_mem us | t_floor us "
          "| t us |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for i, d in enumerate(ds, 1):
        tc, tm, tf, t = d.times()
        fl = fmt(d.flops) + (f" ({fmt(d.flops_exec)})" if d.flops_exec != d.flops else "")
        mm = f"{fmt(d.minmax)} ({fmt(d.cex)})" if d.minmax else "-"
        by = fmt(d.bytes) + (f" ({fmt(d.l2_bytes)})" if d.l2_bytes != d.bytes else "")
        print(f"| {i} | {d.name} | {d.what} | {d.groups} | {d.warps} | {fl} | {mm} | {by} "
              f"| {d.fill():.3f} | {us(tc)} | {us(tm)} | {us(tf)} | {us(t)} |")
    t = total(ds)
    fl = sum(d.flops for d in ds)
    fe = sum(d.flops_exec for d in ds)
    mm = sum(d.minmax for d in ds)
    cx = sum(getattr(d, "cex", 0) for d in ds)
    by = sum(d.bytes for d in ds)
    print(f"| | **all {len(ds)}** | | | | {fmt(fl)} ({fmt(fe)}) | {f'{fmt(mm)} ({fmt(cx)})' if mm else '-'} "
          f"| {fmt(by)} | | | | | **{us(t)}** |")
    print()
    if not step_line:
        return
    print(f"Step: **{us(t)} us = {runs / t:,.0f} run-steps/s** ({len(ds)} dispatches, "
          f"{us(len(ds) * T_LAUNCH)} us of it launch overhead). Plain roofline instead "
          f"(every dispatch at full occupancy, no floors): {us(plain(ds))} us = "
          f"{runs / plain(ds):,.0f} run-steps/s. Sensitivities: launch 2 us: "
          f"{runs / total(ds, launch=2e-6):,.0f}/s; launch 10 us: {runs / total(ds, launch=10e-6):,.0f}/s; "
          f"min/max at half rate: {runs / total(ds, half_rate=True):,.0f}/s.\n")


def gpu_step(ds):
    """A step's dispatches without their launch overhead (what the profile's passes time)."""
    return sum(max(d.times()[:3]) for d in ds)


def plain(ds, launch=T_LAUNCH):
    """The plain roofline: max(flops/(eff*peak), bytes/(eff_b*bw)) + launch, no occupancy."""
    t = 0.0
    for d in ds:
        if d.kind == "mm":
            tc = d.flops_exec / (E_MM * PEAK)
        elif d.kind == "sel":
            tc = d.slots / (E_SEL * SLOTS)
        else:
            tc = 0.0
        t += launch + max(tc, d.bytes / (E_BW * BW))
    return t


# ---------------------------------------------------------------- similarity (issue 28)
PCIE = 20e9               # device-to-host bytes/s for reading K back (PCIe 5 x16, achieved)
T_SYNC = 50e-6            # a submit, its completion wait and the buffer map


def similarity(widths, n):
    """src/gpu/trainer/similarity.rs under the gpu plan: one `--similarity n` measurement after
    the first (the pixels' Gram matrix is formed once, at the first, and kept)."""
    L = len(widths) - 1
    out = [gather(n, widths[0], 1)]
    for l in range(L):
        fi, fo = widths[l], widths[l + 1]
        out.append(matmul(f"forward {l}: {n}x{fi} . {fi}x{fo}", n, fo, fi, "bias", 1))
    out.append(softmax(n, True, 1))
    for l in reversed(range(L)):
        fi, fo = widths[l], widths[l + 1]
        out.append(matmul(f"gram D {l}: {n}x{fo} . {fo}x{n}", n, n, fo, "scale", 1))
        if l > 0:
            out.append(matmul(f"gram A {l}: {n}x{fi} . {fi}x{n}", n, n, fi, "scale", 1))
        # one invocation per element: GD and GA read (the lower half transposed: L2 hits, as
        # the 4 MB matrices fit in the 50 MB L2), K read unless first, K written
        reads = 3 if l < L - 1 else 2
        g = cdiv(n, 64) * n
        out.append(D("similarity", f"layer {l}: K (+)= GD (GA + 1), {n}x{n}", g, g * 2,
                     flops=2.0 * n * n, bytes_=4 * n * n * (reads + 1), floor=2 * L2_LAT))
        if l > 0:
            out.append(matmul(f"backprop {l}: {n}x{fo} . {fo}x{fi}, relu' mask", n, fi, fo, "mask", 1))
    return out


def similarity_time(ds, n):
    """The GPU pass plus reading K (n x n f32) back: what the run's log line calls "GPU pass
    and readback" (the host's statistics come after, on the CPU)."""
    return total(ds) + T_SYNC + 4 * n * n / PCIE


SIMILARITY_CASES = (("3x256", W3, 1000), ("1x2048", W1, 1000))


def cases():
    return {
        "3x256-winsor:8": step(W3, [("winsor:8", 1)]),
        "1x2048-mean": step(W1, [("mean", 1)]),
    }


def suite_predictions():
    """The cases of `winsor bench --suite` the model covers (gpu plan, B = 100)."""
    rows = []
    for rule in ("mean", "winsor:1", "winsor:2", "winsor:4", "winsor:8"):
        rows.append((f"3x256-{rule}-r1", step(W3, [(rule, 1)]), 1))
    for rule in ("mean", "winsor:1", "winsor:8"):
        rows.append((f"3x256-{rule}-r8", step(W3, [(rule, 8)]), 8))
    for rule in ("mean", "winsor:1", "winsor:8"):
        rows.append((f"1x2048-{rule}-r1", step(W1, [(rule, 1)]), 1))
    return rows


def markdown():
    for (title, ds) in (("(a) 3x256, B = 100, winsor:8, one run", cases()["3x256-winsor:8"]),
                        ("(b) 1x2048, B = 100, mean, one run", cases()["1x2048-mean"])):
        table(title, ds)
    table("(a') 3x256 winsor:8, 8 runs in the same dispatches", step(W3, [("winsor:8", 8)]), 8)
    print("#### Suite cases the model covers (run-steps/s)\n")
    print("| case | dispatches | step us | run-steps/s | plain roofline | launch 2 us | min/max half rate |")
    print("|---|---|---|---|---|---|---|")
    for name, ds, runs in suite_predictions():
        t = total(ds)
        print(f"| {name} | {len(ds)} | {us(t)} | {runs / t:,.0f} | {runs / plain(ds):,.0f} "
              f"| {runs / total(ds, launch=2e-6):,.0f} | {runs / total(ds, half_rate=True):,.0f} |")
    print()
    for arch, widths, n in SIMILARITY_CASES:
        ds = similarity(widths, n)
        table(f"`--similarity {n}` on {arch}: one measurement after the first", ds, step_line=False)
        rb = T_SYNC + 4 * n * n / PCIE
        print(f"With the readback of K ({4 * n * n / 1e6:.0f} MB at {PCIE / 1e9:.0f} GB/s and "
              f"{us(T_SYNC)} us to submit, wait and map): **{similarity_time(ds, n) * 1e3:.2f} ms** "
              f"per measurement, of it {us(rb)} us the readback.\n")
    for name, widths, by_rule, steps in (FIG4, FIG1):
        label = "fig4" if name == "3x256" else "fig1"
        h, evals, rows = sweep(label, widths, by_rule, steps)
        cells = sum(c for _, c in by_rule)
        print(f"#### {label} at full scale: {cells} cells x {steps} steps, {evals} evaluations each "
              f"(paper grid), concurrency min(max_runs, 64)\n")
        print("| batch | runs (rule groups) | dispatches/step | step ms | run-steps/s (training) "
              "| eval rows/chunk | eval dispatches | eval s | batch s | steady run-steps/s |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for i, (size, groups, nd, ts, er, ne, te, tb, sr) in enumerate(rows, 1):
            gs = ", ".join(f"{r} x{c}" for r, c in groups)
            print(f"| {i} | {size} ({gs}) | {nd} | {ts * 1e3:.3f} | {size / ts:,.0f} | {er} | {ne} "
                  f"| {te:.3f} | {tb:.0f} | {sr:,.0f} |")
        h2, _, _ = sweep(label, widths, by_rule, steps, launch=2e-6)
        h3, _, _ = sweep(label, widths, by_rule, steps, half_rate=True)
        h8, _, _ = sweep(label, widths, by_rule, steps, concurrent=8)
        print(f"\n**{label}: {h:.2f} h** (launch 2 us: {h2:.2f} h; min/max at half rate: {h3:.2f} h; "
              f"8 concurrent instead of 64: {h8:.2f} h).\n")


def tsv():
    print("case\tquantity\tpredicted\tunit\tdevice\tplan\tnote")
    for name, ds, runs in suite_predictions():
        q = "steps_per_s" if runs == 1 else "run_steps_per_s"
        unit = "steps/s" if runs == 1 else "run-steps/s"
        print(f"{name}\t{q}\t{runs / total(ds):.0f}\t{unit}\th100\tgpu\t"
              f"model: {len(ds)} dispatches, {us(total(ds))} us per step")
    for name, widths, by_rule, steps in (FIG4, FIG1):
        label = "fig4" if name == "3x256" else "fig1"
        h, evals, rows = sweep(label, widths, by_rule, steps)
        print(f"{label}-full\tsweep_hours\t{h:.3f}\th\th100\tgpu\t"
              f"{sum(c for _, c in by_rule)} runs x {steps} steps, {len(rows)} batches")
        for i, r in enumerate(rows, 1):
            print(f"{label}-batch{i}\trun_steps_per_s\t{r[8]:.0f}\trun-steps/s\th100\tgpu\t"
                  f"{r[0]} runs; between logged steps >= 10000 (training + evaluation + checkpoint)")
    # per dispatch, its GPU time without the launch overhead (what `winsor profile` times, each
    # dispatch in its own pass), and the overhead itself (a step's time less its GPU times)
    for case, ds in (("3x256-winsor:8-r1", cases()["3x256-winsor:8"]),
                     ("1x2048-mean-r1", cases()["1x2048-mean"])):
        for i, d in enumerate(ds, 1):
            tc, tm, tf, t = d.times()
            print(f"{case}\tgpu_us.{i:02d}.{d.name}\t{max(tc, tm, tf) * 1e6:.1f}\tus\th100\tgpu\t{d.what}")
        print(f"{case}\toverhead_us_per_dispatch\t{T_LAUNCH * 1e6:.1f}\tus\th100\tgpu\t"
              f"(1 / steps/s - the profile's GPU time per step) / {len(ds)} dispatches")
        print(f"{case}\tgpu_step_us\t{gpu_step(ds) * 1e6:.1f}\tus\th100\tgpu\t"
              f"the dispatches' GPU times summed, without the launch overhead")
    ga, gb = gpu_step(cases()["3x256-winsor:8"]), gpu_step(cases()["1x2048-mean"])
    print(f"1x2048-mean-r1/3x256-winsor:8-r1\tgpu_step_us_ratio\t{gb / ga:.4f}\tratio\th100\tgpu\t"
          f"GPU time per step of (b) over (a), from the profiles")
    ta, tb = total(cases()["3x256-winsor:8"]), total(cases()["1x2048-mean"])
    print(f"1x2048-mean-r1/3x256-winsor:8-r1\tsteps_per_s_ratio\t{ta / tb:.4f}\tratio\th100\tgpu\t"
          f"the two headline cases against each other (a check of the model's structure)")
    for arch, widths, n in SIMILARITY_CASES:
        ds = similarity(widths, n)
        fl = sum(d.flops for d in ds) / 1e9
        print(f"{arch}-similarity-n{n}\tms_per_measurement\t{similarity_time(ds, n) * 1e3:.3f}\tms\t"
              f"h100\tgpu\tmodel: {len(ds)} dispatches, {fl:.1f} GFLOP, GPU pass and readback "
              f"(the run's log line; the host's statistics not included)")
    for line in lavapipe_tsv():
        print(line)


# ---------------------------------------------------------------- lavapipe (the sanity check)
# This machine: 2 Zen 2 cores (AMD EPYC, KVM) at 2.245 GHz, AVX2: 2 x 8-lane FMA pipes per core.
LVP_PEAK = 2 * 2 * 8 * 2 * 2.245e9      # 143.7 GFLOP/s
LVP_LAUNCH = 12e-6                       # per dispatch (DESIGN.md)


def trace_durations(path):
    """Per-dispatch GPU times (s) of `winsor profile --trace`, one list per step."""
    import json
    ev = [e for e in json.load(open(path))["traceEvents"] if e.get("ph") == "X"]
    return [(e["name"], e["dur"] * 1e-6) for e in ev]


def lavapipe(trace_a, trace_b):
    """Calibrates one rate per kernel class on case (a)'s per-dispatch times (executed FLOPs
    for the products, issued lane slots for the selection, bytes for the rest), predicts case
    (b) from them, and shows how far the H100 efficiencies with this CPU's peak are."""
    ca, cb = cases()["3x256-winsor:8"], cases()["1x2048-mean"]
    out = {}
    for key, ds, path in (("a", ca, trace_a), ("b", cb, trace_b)):
        nt = trace_durations(path)
        n = len(ds)
        assert len(nt) % n == 0, f"{path}: {len(nt)} dispatches, not a multiple of {n}"
        steps = [nt[i:i + n] for i in range(0, len(nt), n)]
        for s in steps:
            assert [x for x, _ in s] == [d.name for d in ds], (path, [x for x, _ in s])
        # the median step's per-dispatch times (each dispatch's median over the steps)
        med = []
        for i in range(n):
            ts = sorted(s[i][1] for s in steps)
            med.append(ts[len(ts) // 2])
        out[key] = (ds, med, len(steps))
    ds, med, _ = out["a"]
    work = lambda d: d.flops_exec if d.kind == "mm" else d.slots if d.kind == "sel" else d.bytes
    rate = {}
    for kind in ("mm", "sel", "mem"):
        w = sum(work(d) for d, t in zip(ds, med) if d.kind == kind)
        t = sum(t - LVP_LAUNCH for d, t in zip(ds, med) if d.kind == kind)
        rate[kind] = w / t
    print("#### lavapipe: rates calibrated on (a), 3x256 winsor:8, gpu plan\n")
    print(f"- tiled matmul: {rate['mm'] / 1e9:.3f} GFLOP/s executed "
          f"({rate['mm'] / LVP_PEAK:.2%} of this CPU's {LVP_PEAK / 1e9:.0f} GFLOP/s)")
    print(f"- selection: {rate['sel'] / 1e9:.2f} G lane slots/s "
          f"({rate['sel'] / (LVP_PEAK / 2):.1%} of {LVP_PEAK / 2e9:.0f} G/s)")
    print(f"- gather, softmax, batch statistics: {rate['mem'] / 1e9:.3f} GB/s\n")
    for key, title in (("a", "(a) 3x256 winsor:8 (calibration)"), ("b", "(b) 1x2048 mean (prediction)")):
        ds, med, nsteps = out[key]
        print(f"#### lavapipe {title}: median of {nsteps} profiled steps\n")
        print("| # | kernel | what | work | measured ms | calibrated model ms | ratio "
              "| H100 efficiencies at this CPU's peak, ms | ratio |")
        print("|---|---|---|---|---|---|---|---|---|")
        tm = tp = ta = 0.0
        for i, (d, t) in enumerate(zip(ds, med), 1):
            p = LVP_LAUNCH + work(d) / rate[d.kind]
            if d.kind == "mm":
                ab = d.flops_exec / (E_MM * LVP_PEAK)
            elif d.kind == "sel":
                ab = d.slots / (E_SEL * LVP_PEAK / 2)
            else:
                ab = d.bytes / (E_BW * 20e9)
            ab += LVP_LAUNCH
            tm, tp, ta = tm + t, tp + p, ta + ab
            print(f"| {i} | {d.name} | {d.what} | {fmt(work(d))} | {t * 1e3:.3f} | {p * 1e3:.3f} "
                  f"| {t / p:.2f} | {ab * 1e3:.3f} | {t / ab:.0f} |")
        print(f"| | **step** | | | **{tm * 1e3:.1f}** | **{tp * 1e3:.1f}** | **{tm / tp:.2f}** "
              f"| **{ta * 1e3:.1f}** | **{tm / ta:.0f}** |\n")
        LVP[key] = (tm, tp, ta)
    return LVP


LVP = {}
# The rates `--lavapipe` calibrated on case (a) (docs/gpu-model.md, "lavapipe"): executed
# FLOP/s of the tiled product, issued lane slots/s of the selection, bytes/s of the rest.
LVP_RATES = {"mm": 0.232e9, "sel": 3.63e9, "mem": 0.361e9}
LVP_RATES_NOTE = "rates calibrated on (a) on the 2-core dev machine under load (2026-12-02)"


def lavapipe_time(ds, rates=LVP_RATES):
    work = lambda d: d.flops_exec if d.kind == "mm" else d.slots if d.kind == "sel" else d.bytes
    return sum(LVP_LAUNCH + work(d) / rates[d.kind] for d in ds)


def lavapipe_tsv():
    ca, cb = cases()["3x256-winsor:8"], cases()["1x2048-mean"]
    ta, tb = lavapipe_time(ca), lavapipe_time(cb)
    ga, gb = ta - LVP_LAUNCH * len(ca), tb - LVP_LAUNCH * len(cb)
    return [
        f"3x256-winsor:8-r1\tgpu_step_us\t{ga * 1e6:.0f}\tus\tlavapipe\tgpu\t"
        f"calibration point: {LVP_RATES_NOTE}; scales with the machine's load",
        f"1x2048-mean-r1\tgpu_step_us\t{gb * 1e6:.0f}\tus\tlavapipe\tgpu\t"
        f"predicted from (a)'s rates; scales with the machine's load",
        f"1x2048-mean-r1/3x256-winsor:8-r1\tgpu_step_us_ratio\t{gb / ga:.4f}\tratio\tlavapipe\tgpu\t"
        f"the model's structure (GPU time per step, from the profiles): independent of the "
        f"machine's speed if both slow alike",
        f"3x256-winsor:8-r1\tsteps_per_s\t{1 / ta:.3f}\tsteps/s\tlavapipe\tgpu\t"
        f"calibration point: {LVP_RATES_NOTE}; scales with the machine's load",
        f"1x2048-mean-r1\tsteps_per_s\t{1 / tb:.3f}\tsteps/s\tlavapipe\tgpu\t"
        f"predicted from (a)'s rates; scales with the machine's load",
        f"1x2048-mean-r1/3x256-winsor:8-r1\tsteps_per_s_ratio\t{ta / tb:.4f}\tratio\tlavapipe\tgpu\t"
        f"the model's structure: independent of the machine's speed if both slow alike",
    ]

if __name__ == "__main__":
    if "--tsv" in sys.argv:
        tsv()
    elif "--lavapipe" in sys.argv:
        i = sys.argv.index("--lavapipe")
        lavapipe(sys.argv[i + 1], sys.argv[i + 2])
    else:
        markdown()
