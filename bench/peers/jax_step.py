#!/usr/bin/env python3
"""The winsor training step in JAX, as an honest peer for `winsor bench`.

Same model (an MLP with ReLU hidden layers, softmax cross-entropy), same data (the MNIST
copy in assets/), same step: per-example gradients with jax.vmap(jax.grad(...)), each
coordinate clipped to its k-th smallest and largest value over the minibatch (jnp.sort along
the batch axis), the clipped values' mean, then plain SGD. `mean` is plain autograd of the
minibatch mean loss (no per-example gradients), the fastest way JAX has to do it.

    python bench/peers/jax_step.py --rule mean winsor:1 winsor:8 --arch 3x256
    python bench/peers/jax_step.py --check INIT.safetensors AFTER.safetensors --rule winsor:1

--check runs one step on the first B training examples from the weights in INIT (written
by `winsor train --steps 0 --train-subset B --batch B`) and compares the result with AFTER
(from the same command with --steps 1, whose single minibatch holds the same B examples).
Needs jax and numpy (pip install "jax[cpu]").
"""

import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

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
    # winsor's src/rule.rs: round((n - 1) * q / 100), ties to even
    return int(np.round((n - 1) * q / 100.0))


def clip_counts(rule, b):
    if rule == "mean":
        return 0, 0
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


def make_step(rule, b, lr):
    import jax
    import jax.numpy as jnp

    def forward(params, x):
        for w, bias in params[:-1]:
            x = jax.nn.relu(x @ w.T + bias)
        w, bias = params[-1]
        return x @ w.T + bias

    def loss_one(params, x, y):
        z = forward(params, x[None, :])[0]
        return jax.nn.logsumexp(z) - z[y]

    def loss_mean(params, x, y):
        z = forward(params, x)
        return jnp.mean(jax.nn.logsumexp(z, axis=1) - z[jnp.arange(z.shape[0]), y])

    k_lo, k_hi = clip_counts(rule, b)

    def aggregate(g):
        # g: (B, ...) per-example gradients of one parameter
        s = jnp.sort(g, axis=0)
        lo, hi = s[k_lo], s[b - 1 - k_hi]
        return jnp.mean(jnp.clip(g, lo, hi), axis=0)

    if rule == "mean":
        def step(params, x, y):
            g = jax.grad(loss_mean)(params, x, y)
            return jax.tree_util.tree_map(lambda p, d: p - lr * d, params, g)
    else:
        per_example = jax.vmap(jax.grad(loss_one), in_axes=(None, 0, 0))

        def step(params, x, y):
            g = per_example(params, x, y)
            return jax.tree_util.tree_map(lambda p, d: p - lr * aggregate(d), params, g)

    return jax.jit(step)


def init_params(ws, seed):
    rng = np.random.default_rng(seed)
    out = []
    for fi, fo in zip(ws, ws[1:]):
        bound = 1.0 / math.sqrt(fi)
        out.append((rng.uniform(-bound, bound, (fo, fi)).astype(np.float32),
                    rng.uniform(-bound, bound, fo).astype(np.float32)))
    return out


def bench(args, x_all, y_all):
    import jax
    import jax.numpy as jnp

    b = args.batch
    xs, ys = jnp.asarray(x_all), jnp.asarray(y_all)
    n = xs.shape[0]
    print(f"# JAX {jax.__version__} peer on {jax.devices()[0]}: {args.arch} batch {b}, "
          f"median of {args.windows} windows of {args.window} steps after {args.warmup} warm-up steps")
    print("| rule | steps/s (median) | windows |")
    print("|---|---|---|")
    for rule in args.rule:
        step = make_step(rule, b, 0.1)
        params = [(jnp.asarray(w), jnp.asarray(c)) for w, c in init_params(widths(args.arch), 0)]
        rng = np.random.default_rng(0)
        order = rng.permutation(n)
        at = 0

        def batches(k):
            nonlocal at, order
            out = []
            for _ in range(k):
                if at + b > n:
                    order, at = rng.permutation(n), 0
                out.append(jnp.asarray(order[at:at + b]))
                at += b
            return out

        for i in batches(args.warmup):
            params = step(params, xs[i], ys[i])
        jax.block_until_ready(params)
        rates = []
        for _ in range(args.windows):
            bs = batches(args.window)
            t = time.perf_counter()
            for i in bs:
                params = step(params, xs[i], ys[i])
            jax.block_until_ready(params)
            rates.append(args.window / (time.perf_counter() - t))
        med = sorted(rates)[len(rates) // 2]
        print(f"| {rule} | {med:.1f} | {' '.join(f'{r:.1f}' for r in rates)} |", flush=True)


def check(args, x_all, y_all):
    import jax.numpy as jnp

    before = read_safetensors(args.check[0])
    after = read_safetensors(args.check[1])
    b = args.batch
    worst = 0.0
    for rule in args.rule:
        step = make_step(rule, b, 0.1)
        params = [(jnp.asarray(w), jnp.asarray(c)) for w, c in before]
        got = step(params, jnp.asarray(x_all[:b]), jnp.asarray(y_all[:b]))
        for (gw, gb), (ww, wb) in zip(got, after):
            worst = max(worst, float(np.max(np.abs(np.asarray(gw) - ww))),
                        float(np.max(np.abs(np.asarray(gb) - wb))))
        moved = max(float(np.max(np.abs(w1 - w0))) for (w0, _), (w1, _) in zip(before, after))
        print(f"{rule}: largest difference from winsor {worst:.2e} (the step moved weights by up to {moved:.2e})")
    if worst > 2e-5:
        sys.exit(f"the JAX step differs from winsor's by {worst:.2e} (tolerance 2e-5)")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rule", nargs="+", default=["mean", "winsor:1", "winsor:2", "winsor:4", "winsor:8"])
    p.add_argument("--arch", default="3x256")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--window", type=int, default=50)
    p.add_argument("--windows", type=int, default=5)
    p.add_argument("--check", nargs=2, metavar=("INIT", "AFTER"))
    args = p.parse_args()
    x, y = mnist()
    if args.check:
        check(args, x, y)
    else:
        bench(args, x, y)


if __name__ == "__main__":
    main()
