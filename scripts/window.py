#!/usr/bin/env python3
"""Issue 37's readout of a `--order window:W` run: accuracy at the end of training against
the steps since each example's last visit.

    python3 scripts/window.py RUN [RUN ...]

For each run folder (config.toml with `order = "window:W"`, and examples.csv), the training
examples are binned by the steps between the middle of their last window epoch and the end
of the run; each bin gives its examples' accuracy at the end against their training
(noisy) labels, for the corrupt and for the pristine examples. An example is counted
correct when examples.csv's `learnt_last` is set (it is predicted as its training label at
the last logged step, which is the run's last step).

The window walk is the one src/data/order.rs makes: window epoch j covers the examples
(j*S + k) mod N for k < W, S = round(N*W/(B*T)) (at least 1), each window epoch is W/B
steps, and the last one may be cut short by the end of the run (its examples are then
visited only if their minibatch came before the end). Pure Python, no dependencies.
"""
import csv
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from track import read_config  # noqa: E402

BINS = [0, 300, 1000, 3000, 10000, math.inf]


def last_visits(n, width, batch, steps):
    """The middle step of each example's last window epoch (None if never in a window)."""
    stride = max(1, int(round(n * width / (batch * steps))))
    per = width // batch
    epochs = math.ceil(steps / per)
    last = [None] * n
    for j in range(epochs):
        start = j * stride % n
        mid = j * per + min(per, steps - j * per) / 2
        for k in range(width):
            last[(start + k) % n] = mid
    return last


def readout(run):
    conf = read_config(run)
    order = conf.get("order", "shuffle")
    if not order.startswith("window:"):
        sys.exit(f"{run}: order is {order}, not window:W; this readout is for window runs")
    width = int(order.split(":")[1])
    batch = int(conf.get("batch", 100))
    steps = int(conf["steps"])
    with open(os.path.join(run, "examples.csv")) as f:
        rows = list(csv.DictReader(f))
    last = last_visits(len(rows), width, batch, steps)
    out = []
    never = {"0": [0, 0], "1": [0, 0]}
    for r, mid in zip(rows, last):
        if mid is None:
            never[r["corrupt"]][0] += 1
            never[r["corrupt"]][1] += r["learnt_last"] != ""
    for lo, hi in zip(BINS, BINS[1:]):
        groups = {"0": [0, 0], "1": [0, 0]}
        for r, mid in zip(rows, last):
            if mid is not None and lo <= steps - mid < hi:
                g = groups[r["corrupt"]]
                g[0] += 1
                g[1] += r["learnt_last"] != ""
        out.append((f"{lo}-{hi}" if hi != math.inf else f"{lo}+", groups))
    if never["0"][0] + never["1"][0]:
        out.append(("never visited", never))
    return conf, out


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for run in sys.argv[1:]:
        conf, bins = readout(run)
        print(f"\n{run}: {conf.get('rule')}, {conf.get('order')}, {conf.get('steps')} steps")
        print("| steps since last visit | corrupt examples | corrupt accuracy | pristine examples | pristine accuracy |")
        print("|---|---|---|---|---|")
        for name, g in bins:
            acc = lambda k: f"{g[k][1] / g[k][0]:.3f}" if g[k][0] else "-"
            print(f"| {name} | {g['1'][0]} | {acc('1')} | {g['0'][0]} | {acc('0')} |")


if __name__ == "__main__":
    main()
