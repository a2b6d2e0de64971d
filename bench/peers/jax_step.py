#!/usr/bin/env python3
"""The winsor training step in JAX, as an honest peer for `winsor bench`.

Same model (an MLP with ReLU hidden layers, softmax cross-entropy), same data (the MNIST
copy in assets/), same step: per-example gradients, each coordinate clipped to its k-th
smallest and largest value over the minibatch, the clipped values' mean, then plain SGD.
`mean` is plain autograd of the minibatch mean loss (no per-example gradients), the fastest
way JAX has to do it. --select picks how the winsor rules find their clip bounds:
  registers           (default) k+1 running maxima and minima per coordinate, carried by a
                      lax.scan over the examples and updated by an insertion network of
                      jnp.maximum/minimum; each example's gradient d a^T is formed inside the
                      scan body (d backpropagated by hand), so nothing of size B x parameters
                      is materialised. One scan per cache-sized block of output units. See
                      clipped_sum and clipped_sum_blocked.
  registers-unrolled  the same network unrolled over the batch in Python, so that XLA can fuse
                      the whole batch into one loop with the extremes in CPU registers; only
                      for k <= 4 (at k = 8 XLA's compile was killed for memory, 24 GB here).
  topk, sort          the weak baselines: per-example gradients materialised by
                      jax.vmap(jax.grad(...)), then lax.top_k of k+1 per side or jnp.sort.

    python bench/peers/jax_step.py --rule mean winsor:1 winsor:8 --arch 3x256
    python bench/peers/jax_step.py --check INIT.safetensors AFTER.safetensors --rule winsor:1

--check runs one step on the first B training examples from the weights in INIT (written
by `winsor train --steps 0 --train-subset B --batch B`) and compares the result with AFTER
(from the same command with --steps 1, whose single minibatch holds the same B examples).
Needs jax and numpy (pip install "jax[cpu]").
"""

import sys
import time

import numpy as np

import common


SELECTS = ["registers", "registers-unrolled", "topk", "sort"]
UNROLLED_MAX_K = 4
# How many bytes of extremes one lax.scan carries: each layer's output units are split into
# scans this small. Measured on 2 cores (3x256, B = 100): 2.1x (k = 8) and 2.4x (k = 1) the
# rate of one scan per layer; 2 and 8 MB were a few percent slower, 16 MB a third slower.
SCAN_BYTES = 4 << 20


def clipped_sum(d, a, k_lo, k_hi, unrolled):
    """sum_e clamp(d[e] a[e]^T, lo, hi), lo/hi the (k_lo+1)-th smallest and (k_hi+1)-th largest
    value of each coordinate over the batch, without materialising the B gradients.

    The insertion network keeps, per side, the k+1 extremes sorted: at level j the more extreme
    of r[j] and the incoming value stays, the other moves on; with ties r holds exactly the
    multiset of the k+1 extremes. Clamping replaces the k largest values by hi and the k
    smallest by lo, so sum clamp(g) = d^T a - (sum of the k largest - k hi) - (sum of the k
    smallest - k lo), exact with ties since equal values clamp to themselves."""
    import jax
    import jax.numpy as jnp

    sides = ((jnp.maximum, jnp.minimum, k_hi, -jnp.inf), (jnp.minimum, jnp.maximum, k_lo, jnp.inf))

    def insert(regs, g):
        out = []
        for (keep, drop, _, _), r in zip(sides, regs):
            v, new = g, []
            for rj in r:
                new.append(keep(rj, v))
                v = drop(rj, v)
            out.append(tuple(new))
        return tuple(out)

    regs = tuple(tuple(jnp.full((d.shape[1], a.shape[1]), empty) for _ in range(k + 1))
                 for _, _, k, empty in sides)
    if unrolled:
        for e in range(d.shape[0]):
            regs = insert(regs, d[e, :, None] * a[e, None, :])
    else:
        regs, _ = jax.lax.scan(lambda r, da: (insert(r, da[0][:, None] * da[1][None, :]), None), regs, (d, a))
    excess = sum(sum(r[:k], -k * r[k]) for (_, _, k, _), r in zip(sides, regs))
    return d.T @ a - excess


def clipped_sum_blocked(d, a, k_lo, k_hi):
    """clipped_sum with a scan per block of output units, each carrying at most SCAN_BYTES of
    extremes: XLA's while loop streams its whole carry through memory once per example, so a
    carry that stays in the cache makes it much faster."""
    import jax.numpy as jnp

    blocks = -(-d.shape[1] * a.shape[1] * (k_lo + k_hi + 2) * 4 // SCAN_BYTES)
    return jnp.concatenate([clipped_sum(part, a, k_lo, k_hi, unrolled=False)
                            for part in jnp.array_split(d, blocks, axis=1)], axis=0)


def make_step(rule, b, lr, select):
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

    k_lo, k_hi = common.clip_counts(rule, b)

    def bounds(g):
        if select == "sort":
            s = jnp.sort(g, axis=0)
            return s[k_lo], s[b - 1 - k_hi]
        gt = jnp.moveaxis(g, 0, -1)
        hi = jax.lax.top_k(gt, k_hi + 1)[0][..., -1]
        lo = -jax.lax.top_k(-gt, k_lo + 1)[0][..., -1]
        return lo, hi

    def aggregate(g):
        # g: (B, ...) per-example gradients of one parameter
        lo, hi = bounds(g)
        return jnp.mean(jnp.clip(g, lo, hi), axis=0)

    if rule == "mean":
        def step(params, x, y):
            g = jax.grad(loss_mean)(params, x, y)
            return jax.tree_util.tree_map(lambda p, d: p - lr * d, params, g)
    elif select.startswith("registers"):
        unrolled = select == "registers-unrolled"
        if unrolled and max(k_lo, k_hi) > UNROLLED_MAX_K:
            sys.exit(f"{rule}: --select registers-unrolled is for at most {UNROLLED_MAX_K} values "
                     f"clipped per side (XLA's compile of the unrolled network blows up beyond)")

        def step(params, x, y):
            acts = [x]
            for w, bias in params[:-1]:
                acts.append(jax.nn.relu(acts[-1] @ w.T + bias))
            z = acts[-1] @ params[-1][0].T + params[-1][1]
            d = jax.nn.softmax(z, axis=1) - jax.nn.one_hot(y, z.shape[1])
            new = [None] * len(params)
            for l in range(len(params) - 1, -1, -1):
                w, c = params[l]
                a = jnp.concatenate([acts[l], jnp.ones((b, 1))], axis=1)  # the bias's input is 1
                s = clipped_sum(d, a, k_lo, k_hi, True) if unrolled else clipped_sum_blocked(d, a, k_lo, k_hi)
                new[l] = (w - lr / b * s[:, :-1], c - lr / b * s[:, -1])
                if l > 0:
                    d = (d @ w) * (acts[l] > 0)
            return new
    else:
        per_example = jax.vmap(jax.grad(loss_one), in_axes=(None, 0, 0))

        def step(params, x, y):
            g = per_example(params, x, y)
            return jax.tree_util.tree_map(lambda p, d: p - lr * aggregate(d), params, g)

    return jax.jit(step)


def bench(args, x_all, y_all):
    import jax
    import jax.numpy as jnp

    b = args.batch
    xs, ys = jnp.asarray(x_all), jnp.asarray(y_all)
    print(f"# JAX {jax.__version__} peer on {jax.devices()[0]} ({how(args)}): {args.arch} "
          f"batch {b}, median of {args.windows} windows of {args.window} steps after {args.warmup} warm-up steps")
    rows = []
    for rule in args.rule:
        step = make_step(rule, b, 0.1, args.select)
        params = [(jnp.asarray(w), jnp.asarray(c)) for w, c in common.init_params(common.widths(args.arch), 0)]
        order = common.Batches(xs.shape[0], b)
        t = time.perf_counter()
        for i in order.take(args.warmup):
            params = step(params, xs[i], ys[i])
        jax.block_until_ready(params)
        warm = time.perf_counter() - t  # the warm-up steps, jit compiles included
        rates = []
        for _ in range(args.windows):
            bs = [jnp.asarray(i) for i in order.take(args.window)]
            t = time.perf_counter()
            for i in bs:
                params = step(params, xs[i], ys[i])
            jax.block_until_ready(params)
            rates.append(args.window / (time.perf_counter() - t))
        rows.append((rule, common.median(rates), rates, warm))
    common.report(f"jax {jax.__version__} {jax.devices()[0]} {how(args)}", args, rows)


def how(args):
    return "autograd" if args.rule == ["mean"] else f"select {args.select}"


def check(args, x_all, y_all):
    import jax.numpy as jnp

    before = common.read_safetensors(args.check[0])
    after = common.read_safetensors(args.check[1])
    b = args.batch
    worst = 0.0
    for rule in args.rule:
        step = make_step(rule, b, 0.1, args.select)
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
    p = common.parser(__doc__)
    p.add_argument("--select", choices=SELECTS, default="registers",
                   help="how the winsor rules find their clip bounds (mean: plain autograd)")
    args = p.parse_args()
    x, y = common.mnist()
    if args.check:
        check(args, x, y)
    else:
        bench(args, x, y)


if __name__ == "__main__":
    main()
