"""What the peers share: the MNIST copy in assets/, the network widths, winsor's clip counts
and its safetensors weights, the minibatch order, and the command-line flags."""

import argparse
import gzip
import json
import math
import os
import struct
import sys

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def mnist():
    d = os.path.join(ROOT, "assets", "mnist")
    x = idx(os.path.join(d, "train-images-idx3-ubyte.gz")).reshape(-1, 784)
    y = idx(os.path.join(d, "train-labels-idx1-ubyte.gz"))
    return x.astype(np.float32) / 255.0, y.astype(np.int32)


def widths(arch):
    depth, width = arch.split("x")
    return [784] + [int(width)] * int(depth) + [10]


def nearest_rank(q, n):
    # winsor's src/rule.rs: round((n - 1) * (q / 100)), ties to even; the same order of
    # operations, so that a product landing on .5 rounds the same way
    return int(np.round((n - 1) * (q / 100.0)))


def clip_counts(rule, b):
    # the peers implement the rules the targets compare on: mean and winsor:C
    if rule == "mean":
        return 0, 0
    if not rule.startswith("winsor:"):
        sys.exit(f"rule {rule!r}: the peers implement only mean and winsor:C")
    c = float(rule.split(":")[1])
    lo = nearest_rank(c, b)
    hi = nearest_rank(100.0 - c, b)
    return lo, b - 1 - hi


def read_safetensors(path):
    with open(path, "rb") as f:
        n, = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        body = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(body[a:b], np.float32).reshape(t["shape"])
    layers = sorted({int(k.split(".")[1]) for k in out})
    return [(out[f"layers.{i}.weight"], out[f"layers.{i}.bias"]) for i in layers]


def init_params(ws, seed):
    rng = np.random.default_rng(seed)
    out = []
    for fi, fo in zip(ws, ws[1:]):
        bound = 1.0 / math.sqrt(fi)
        out.append((rng.uniform(-bound, bound, (fo, fi)).astype(np.float32),
                    rng.uniform(-bound, bound, fo).astype(np.float32)))
    return out


class Batches:
    """Minibatch indices of B examples, a new permutation each epoch."""

    def __init__(self, n, b, seed=0):
        self.n, self.b = n, b
        self.rng = np.random.default_rng(seed)
        self.order, self.at = self.rng.permutation(n), 0

    def take(self, k):
        out = []
        for _ in range(k):
            if self.at + self.b > self.n:
                self.order, self.at = self.rng.permutation(self.n), 0
            out.append(self.order[self.at:self.at + self.b])
            self.at += self.b
        return out


def parser(doc):
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rule", nargs="+", default=["mean", "winsor:1", "winsor:2", "winsor:4", "winsor:8"])
    p.add_argument("--arch", default="3x256")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--window", type=int, default=50)
    p.add_argument("--windows", type=int, default=5)
    p.add_argument("--check", nargs=2, metavar=("INIT", "AFTER"))
    p.add_argument("--json", metavar="FILE", help="also write the rates as JSON")
    return p


def report(name, args, rows):
    """rows: (rule, median steps/s, [window rates], warm-up seconds); prints markdown, writes
    --json. The warm-up time is there because it holds the compile time of jit and torch.compile,
    which the rates leave out."""
    print("| rule | steps/s (median) | windows | warm-up s |")
    print("|---|---|---|---|")
    for rule, med, rates, warm in rows:
        print(f"| {rule} | {med:.1f} | {' '.join(f'{r:.1f}' for r in rates)} | {warm:.1f} |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"peer": name, "arch": args.arch, "batch": args.batch,
                       "rows": [{"rule": r, "steps_per_s": m, "windows": w, "warmup_s": c}
                                for r, m, w, c in rows]},
                      f, indent=2)


def median(rates):
    return sorted(rates)[len(rates) // 2]
