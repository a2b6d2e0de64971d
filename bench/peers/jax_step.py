#!/usr/bin/env python3
"""The winsor training step in JAX, as an honest peer for `winsor bench`.

Same model (an MLP with ReLU hidden layers, softmax cross-entropy), same data (the MNIST
copy in assets/), same step: per-example gradients with jax.vmap(jax.grad(...)), each
coordinate clipped to its k-th smallest and largest value over the minibatch, the clipped
values' mean, then plain SGD. `mean` is plain autograd of the minibatch mean loss (no
per-example gradients), the fastest way JAX has to do it. --select picks how the k-th values
are found: topk (lax.top_k of k+1 per side, the default) or sort (jnp.sort along the batch).

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
    print(f"# JAX {jax.__version__} peer on {jax.devices()[0]} (select {args.select}): {args.arch} "
          f"batch {b}, median of {args.windows} windows of {args.window} steps after {args.warmup} warm-up steps")
    rows = []
    for rule in args.rule:
        step = make_step(rule, b, 0.1, args.select)
        params = [(jnp.asarray(w), jnp.asarray(c)) for w, c in common.init_params(common.widths(args.arch), 0)]
        order = common.Batches(xs.shape[0], b)
        for i in order.take(args.warmup):
            params = step(params, xs[i], ys[i])
        jax.block_until_ready(params)
        rates = []
        for _ in range(args.windows):
            bs = [jnp.asarray(i) for i in order.take(args.window)]
            t = time.perf_counter()
            for i in bs:
                params = step(params, xs[i], ys[i])
            jax.block_until_ready(params)
            rates.append(args.window / (time.perf_counter() - t))
        rows.append((rule, common.median(rates), rates))
    common.report(f"jax {jax.__version__} {jax.devices()[0]} select {args.select}", args, rows)


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
    p.add_argument("--select", choices=["topk", "sort"], default="topk")
    args = p.parse_args()
    x, y = common.mnist()
    if args.check:
        check(args, x, y)
    else:
        bench(args, x, y)


if __name__ == "__main__":
    main()
