#!/usr/bin/env python3
"""How closely reduced protocols track the paper's full-scale Experiment 3 cells (issue 25).

    python3 scripts/track.py [--until EPOCHS] FULL_SWEEP CANDIDATE_SWEEP [CANDIDATE_SWEEP ...]

FULL_SWEEP holds the full-scale runs (60,000 examples, 600 steps per epoch) as folders
`winsor0`, `winsor1` (or with `-seedS`), or is a CSV of their curves such as
docs/fullscale-exp3-noise50.csv (the steps of docs/science.md's table: 16 points from epoch
1 on, where a folder gives 19); each candidate sweep holds runs named
`winsor{C}-seed{S}` (or `winsor{C}`) at 50% noise, or is a preset sweep whose
`noise50-winsor{C}-seed{S}` runs are compared. A run's epoch is step * batch / examples,
from its config.toml.

The tracking error of a candidate is the mean absolute difference between its curves and the
full-scale ones at the full-scale logged steps from epoch 1 on (steps 600-900, 1000-9000 and
10000-60000 of the paper's log grid: 19 points, epochs 1 to 100), the candidate's seed mean
interpolated linearly in log(epoch): reported per curve (train and test accuracy at C = 0
and C = 1) and as their mean. Full-scale points beyond the candidate's last epoch are
skipped, and so are those beyond --until (to judge a candidate's first EPOCHS epochs as a
shorter protocol: with a constant learning rate, they are exactly that protocol's run).

    python3 scripts/track.py --curves FULL_SWEEP
    python3 scripts/track.py --beside FULL_SWEEP CANDIDATE_SWEEP
    python3 scripts/track.py --csv FULL_SWEEP > docs/fullscale-exp3-noiseN.csv

print the full-scale curves at their logged steps, and the candidate's train and test
accuracy (seed mean, and min-max over seeds) beside them at the same epochs, as markdown;
--csv writes the full-scale curves at every logged step as the reference CSV that the other
modes read (columns winsor, step and the metrics, 3 decimals).
Pure Python, no dependencies.
"""
import csv
import math
import os
import re
import sys


def read_config(run):
    conf = {}
    with open(os.path.join(run, "config.toml")) as f:
        for line in f:
            m = re.match(r'^([a-z-]+) = "?([^"\n]*)"?$', line.strip())
            if m:
                conf.setdefault(m.group(1), m.group(2))
    return conf


def curves(run):
    """{column: [(epoch, value)]} of a run's metrics.csv."""
    conf = read_config(run)
    with open(os.path.join(run, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    batch = float(conf.get("batch", 100))
    n = float(conf.get("train-subset", 60000))
    out = {}
    for col in ("train_acc", "test_acc", "corrupt_acc", "pristine_acc", "overfit"):
        out[col] = [
            (float(r["step"]) * batch / n, float(r[col])) for r in rows if r[col] not in ("", None)
        ]
    return out


def reference(full):
    """{C: {column: [(epoch, value)]}} of the full-scale cells: a sweep folder with runs
    `winsor0` and `winsor1`, or a CSV of their curves (docs/fullscale-exp3-noise50.csv:
    columns winsor, step and the metrics, 600 steps per epoch)."""
    if os.path.isfile(full):
        out = {}
        with open(full) as f:
            for r in csv.DictReader(f):
                cur = out.setdefault(int(r["winsor"]), {})
                for col, v in r.items():
                    if col not in ("winsor", "step") and v != "":
                        cur.setdefault(col, []).append((int(r["step"]) / 600, float(v)))
        return out
    return {c: curves(runs[0]) for c, runs in runs_by_c(full).items()}


def runs_by_c(sweep, noise=50):
    """{C: [run folder per seed]}"""
    by = {}
    for name in sorted(os.listdir(sweep)):
        # a preset sweep names its runs noise{N}-winsor{C}-seed{S}: only 50% noise is compared
        # (any noise with noise=None, for a plan's sweep of one noise level)
        prefix = r"(?:noise50-)?" if noise == 50 else r"(?:noise\d+-)?"
        m = re.match(r"^" + prefix + r"winsor(\d+)(-seed\d+)?$", name)
        path = os.path.join(sweep, name)
        if m and os.path.exists(os.path.join(path, "metrics.csv")):
            by.setdefault(int(m.group(1)), []).append(path)
    return by


def at(series, epoch):
    """Linear interpolation in log(epoch); None outside the logged range."""
    pts = [p for p in series if p[0] > 0]
    if not pts or epoch < pts[0][0] or epoch > pts[-1][0] * (1 + 1e-9):
        return None
    for (e0, v0), (e1, v1) in zip(pts, pts[1:]):
        if e0 <= epoch <= e1:
            if e1 == e0:
                return v1
            w = (math.log(epoch) - math.log(e0)) / (math.log(e1) - math.log(e0))
            return v0 + w * (v1 - v0)
    return pts[-1][1]


def seed_mean(runs, col, epoch):
    vals = [at(curves(r)[col], epoch) for r in runs]
    return None if any(v is None for v in vals) else sum(vals) / len(vals)


def full_curves(sweep):
    full = runs_by_c(sweep)
    cols = ("train_acc", "test_acc", "overfit", "pristine_acc", "corrupt_acc")
    print("| step | epoch | " + " | ".join(f"C={c} {k.replace('_acc', '')}" for c in (0, 1) for k in cols) + " |")
    print("|---" * (2 + 2 * len(cols)) + "|")
    with open(os.path.join(full[0][0], "metrics.csv")) as f:
        r0 = list(csv.DictReader(f))
    with open(os.path.join(full[1][0], "metrics.csv")) as f:
        r1 = {r["step"]: r for r in csv.DictReader(f)}
    for r in r0:
        if r["step"] not in r1:
            continue
        step = int(r["step"])
        if step < 10 and step != 0:
            continue
        cells = [f"{float(x[k]):.3f}" if x[k] else "" for x in (r, r1[r["step"]]) for k in cols]
        print(f"| {step} | {step / 600:.2f} | " + " | ".join(cells) + " |")


def reference_csv(sweep):
    full = runs_by_c(sweep, noise=None)
    cols = ("train_acc", "test_acc", "overfit", "pristine_acc", "corrupt_acc")
    print("winsor,step," + ",".join(cols))
    for c in sorted(full):
        with open(os.path.join(full[c][0], "metrics.csv")) as f:
            for r in csv.DictReader(f):
                cells = [f"{float(r[k]):.3f}" if r[k] else "" for k in cols]
                print(f"{c},{r['step']}," + ",".join(cells))


def beside(full_sweep, cand_sweep):
    ref, cand = reference(full_sweep), runs_by_c(cand_sweep)
    head = []
    for col in ("train_acc", "test_acc"):
        for c in (0, 1):
            head += [f"full C={c} {col[:-4]}", f"reduced C={c} {col[:-4]} (seeds)"]
    print("| epoch | " + " | ".join(head) + " |")
    print("|---" * (1 + len(head)) + "|")
    for epoch, _ in ref[0]["train_acc"]:
        if epoch < 1:
            continue
        cells = []
        for col in ("train_acc", "test_acc"):
            for c in (0, 1):
                v = at(ref[c][col], epoch)
                per = [at(curves(r)[col], epoch) for r in cand[c]]
                cells.append("" if v is None else f"{v:.3f}")
                if any(x is None for x in per):
                    cells.append("")
                else:
                    cells.append(f"{sum(per) / len(per):.3f} ({min(per):.3f}-{max(per):.3f})")
        print(f"| {epoch:.1f} | " + " | ".join(cells) + " |")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--curves":
        return full_curves(sys.argv[2])
    if len(sys.argv) == 3 and sys.argv[1] == "--csv":
        return reference_csv(sys.argv[2])
    if len(sys.argv) == 4 and sys.argv[1] == "--beside":
        return beside(sys.argv[2], sys.argv[3])
    args = sys.argv[1:]
    until = float("inf")
    if args[:1] == ["--until"]:
        until, args = float(args[1]), args[2:]
    if len(args) < 2:
        sys.exit(__doc__)
    full = reference(args[0])
    print("| candidate | last epoch | train C=0 | train C=1 | test C=0 | test C=1 | mean | points |")
    print("|---|---|---|---|---|---|---|---|")
    for sweep in args[1:]:
        cand = runs_by_c(sweep)
        errs, points, last = [], 0, 0.0
        for c in (0, 1):
            if c not in cand or c not in full:
                continue
            last = min(until, max(p[0] for p in curves(cand[c][0])["train_acc"]))
        cells = []
        for col in ("train_acc", "test_acc"):
            for c in (0, 1):
                if c not in cand or c not in full:
                    cells.append("-")
                    continue
                ref = full[c][col]
                d = []
                for epoch, v in ref:
                    if epoch < 1 or epoch > until * (1 + 1e-9):
                        continue
                    m = seed_mean(cand[c], col, epoch)
                    if m is not None:
                        d.append(abs(m - v))
                points = max(points, len(d))
                if d:
                    errs.append(sum(d) / len(d))
                    cells.append(f"{sum(d) / len(d):.3f}")
                else:
                    cells.append("-")
        mean = f"{sum(errs) / len(errs):.3f}" if errs else "-"
        print(f"| {os.path.basename(sweep.rstrip('/'))} | {last:.0f} | " + " | ".join(cells) + f" | {mean} | {points} |")


if __name__ == "__main__":
    main()
