#!/usr/bin/env python3
"""Issue 37's mechanism table: for each sweep of C = 0 and C = 1 runs (at one noise level),
the train accuracy at 33 and 50 epochs for each C, their gap, test and corrupt accuracy at
33 epochs, the train accuracies at the last logged step with C = 1's largest logged one
(what claims.md's proper-accuracy claim reads), per seed, and the sweep's training time.

    python3 scripts/mechanism.py SWEEP [SWEEP ...]
    python3 scripts/mechanism.py --plot OUT.png FULL LABEL=SWEEP [LABEL=SWEEP ...]

A sweep holds runs named winsor{C}-seed{S} (a plan's sweep) or noise{N}-winsor{C}-seed{S}
(a preset's); values at an epoch are interpolated linearly in log(epoch) between logged
steps, as scripts/track.py does ("-" where the run stops earlier). The time is the longest
run's wall_s from summary.json: a sweep trains its runs together (--concurrent), so that is
the sweep's time for them. Pure Python, no dependencies.

--plot draws the figure of docs/science.md section 5 with matplotlib (`pip install
matplotlib`; only this option needs it): one panel per sweep, train accuracy against epochs
for C = 0 and C = 1 (each seed a thin line, the band between seeds shaded), beside the
full-scale cells FULL (a sweep folder or docs/fullscale-exp3-noise50.csv) in grey, and the
proper accuracy 0.55 dashed.
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from track import at, curves, read_config  # noqa: E402


def runs(sweep):
    """{(C, seed): run folder}"""
    out = {}
    for name in sorted(os.listdir(sweep)):
        m = re.match(r"^(?:noise\d+-)?winsor(\d+)(?:-seed(\d+))?$", name)
        path = os.path.join(sweep, name)
        if m and os.path.exists(os.path.join(path, "metrics.csv")):
            out[(int(m.group(1)), int(m.group(2) or 0))] = path
    return out


def fmt(v):
    return "-" if v is None else f"{v:.3f}"


def plot(out, full, labelled):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from track import reference

    ref = reference(full)
    cols = min(4, len(labelled))
    rows = (len(labelled) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[len(labelled):]:
        ax.axis("off")
    for ax, item in zip(axes.flat, labelled):
        label, sweep = item.split("=", 1)
        rs = runs(sweep)
        for c, colour in ((0, "tab:red"), (1, "tab:blue")):
            if c in ref:
                e, v = zip(*[p for p in ref[c]["train_acc"] if p[0] > 0])
                ax.plot(e, v, color="grey", lw=1, ls=":" if c else "-")
            seeds = [curves(p)["train_acc"] for (cc, _), p in rs.items() if cc == c]
            for s_ in seeds:
                e, v = zip(*[p for p in s_ if p[0] > 0])
                ax.plot(e, v, color=colour, lw=0.8, alpha=0.8, label=f"C={c}" if s_ is seeds[0] else None)
            if len(seeds) > 1:
                grid = [p[0] for p in seeds[0] if p[0] > 0]
                lo = [min(at(s_, g) or 0 for s_ in seeds) for g in grid]
                hi = [max(at(s_, g) or 0 for s_ in seeds) for g in grid]
                ax.fill_between(grid, lo, hi, color=colour, alpha=0.25, lw=0)
        ax.axhline(0.55, color="black", ls="--", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlim(0.5, 110)
        ax.set_ylim(0.3, 1.0)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("train accuracy (noisy labels)")
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle("50% noise: train accuracy, C = 0 (red) and C = 1 (blue); grey: full scale 3x256 (solid C=0, dotted C=1); dashed: proper accuracy", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    if sys.argv[1] == "--plot":
        if len(sys.argv) < 5:
            sys.exit(__doc__)
        return plot(sys.argv[2], sys.argv[3], sys.argv[4:])
    print("| sweep | network | examples | seed | train C=0 @33 | train C=1 @33 | gap @33 | train C=0 @50 | train C=1 @50 | test C=0 / C=1 @33 | corrupt C=0 / C=1 @33 | last epoch: train C=0 / C=1, C=1's largest | time |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for sweep in sys.argv[1:]:
        rs = runs(sweep)
        walls = []
        for path in rs.values():
            try:
                with open(os.path.join(path, "summary.json")) as f:
                    walls.append(json.load(f)["wall_s"])
            except (OSError, KeyError, ValueError):
                pass
        time = f"{max(walls):.0f} s" if walls else "unfinished"
        for seed in sorted({s for _, s in rs}):
            if (0, seed) not in rs or (1, seed) not in rs:
                continue
            c0, c1 = curves(rs[(0, seed)]), curves(rs[(1, seed)])
            conf = read_config(rs[(0, seed)])
            n = conf.get("train-subset", "60000")
            v = lambda c, col, e: at(c[col], e)
            t0, t1 = v(c0, "train_acc", 100 / 3), v(c1, "train_acc", 100 / 3)
            gap = None if t0 is None or t1 is None else t0 - t1
            print(
                f"| {os.path.basename(sweep.rstrip('/'))} | {conf.get('arch')} | {n} | {seed} | "
                f"{fmt(t0)} | {fmt(t1)} | {fmt(gap)} | {fmt(v(c0, 'train_acc', 50))} | {fmt(v(c1, 'train_acc', 50))} | "
                f"{fmt(v(c0, 'test_acc', 100 / 3))} / {fmt(v(c1, 'test_acc', 100 / 3))} | "
                f"{fmt(v(c0, 'corrupt_acc', 100 / 3))} / {fmt(v(c1, 'corrupt_acc', 100 / 3))} | "
                f"{c0['train_acc'][-1][0]:.0f}: {fmt(c0['train_acc'][-1][1])} / {fmt(c1['train_acc'][-1][1])}, "
                f"{fmt(max(p[1] for p in c1['train_acc']))} | {time} |"
            )


if __name__ == "__main__":
    main()
