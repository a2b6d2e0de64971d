#!/usr/bin/env python3
"""The winsor training step in PyTorch, as an honest peer for `winsor bench`.

Same model (an MLP with ReLU hidden layers, softmax cross-entropy), same data (the MNIST
copy in assets/), same step. Per-example gradients are the explicit outer products of each
example's output error d and its layer input a (what torch.func.vmap(grad) computes, without
its overhead): g[e] = d[e] a[e]^T for the weights and d[e] for the biases, with d backpropagated
by hand through the ReLUs. Each coordinate is clipped to its k-th smallest and largest value
over the minibatch (torch.topk of k+1 per side, or torch.sort with --select sort), the clipped
values are averaged, and SGD updates the weights. `mean` is plain autograd of the minibatch
mean loss, the usual way to train in PyTorch.

    python bench/peers/torch_step.py --rule mean winsor:1 winsor:8 --arch 3x256 [--device cuda]
    python bench/peers/torch_step.py --check INIT.safetensors AFTER.safetensors --rule winsor:1

--check: as in jax_step.py. Needs torch and numpy.
"""

import sys
import time

import numpy as np

import common


def make_step(rule, b, lr, select):
    import torch

    k_lo, k_hi = common.clip_counts(rule, b)

    def bounds(g):
        if select == "sort":
            s, _ = torch.sort(g, dim=0)
            return s[k_lo], s[b - 1 - k_hi]
        hi = torch.topk(g, k_hi + 1, dim=0).values[-1]
        lo = torch.topk(g, k_lo + 1, dim=0, largest=False).values[-1]
        return lo, hi

    def aggregate(g):
        lo, hi = bounds(g)
        return torch.clamp(g, lo, hi).mean(dim=0)

    if rule == "mean":
        def step(params, x, y):
            ps = [t.requires_grad_(True) for wb in params for t in wb]
            h = x
            for w, bias in params[:-1]:
                h = torch.relu(h @ w.T + bias)
            z = h @ params[-1][0].T + params[-1][1]
            loss = torch.nn.functional.cross_entropy(z, y)
            grads = torch.autograd.grad(loss, ps)
            with torch.no_grad():
                return [(w - lr * gw, c - lr * gb)
                        for (w, c), gw, gb in zip(params, grads[0::2], grads[1::2])]
        return step

    @torch.no_grad()
    def step(params, x, y):
        acts = [x]
        for w, bias in params[:-1]:
            acts.append(torch.relu(acts[-1] @ w.T + bias))
        z = acts[-1] @ params[-1][0].T + params[-1][1]
        d = torch.softmax(z, dim=1)
        d[torch.arange(b), y] -= 1.0
        new = [None] * len(params)
        for l in range(len(params) - 1, -1, -1):
            w, c = params[l]
            a = acts[l]
            gw = d[:, :, None] * a[:, None, :]  # (B, out, in): every example's gradient
            new[l] = (w - lr * aggregate(gw), c - lr * aggregate(d))
            if l > 0:
                d = (d @ w) * (a > 0)
        return new

    return step


def bench(args, x_all, y_all):
    import torch

    dev = torch.device(args.device)
    b = args.batch
    xs = torch.from_numpy(x_all).to(dev)
    ys = torch.from_numpy(y_all.astype(np.int64)).to(dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"# PyTorch {torch.__version__} peer on {name} (select {args.select}): {args.arch} batch {b}, "
          f"median of {args.windows} windows of {args.window} steps after {args.warmup} warm-up steps")
    rows = []
    for rule in args.rule:
        step = make_step(rule, b, 0.1, args.select)
        params = [(torch.from_numpy(w).to(dev), torch.from_numpy(c).to(dev))
                  for w, c in common.init_params(common.widths(args.arch), 0)]
        order = common.Batches(xs.shape[0], b)
        for i in order.take(args.warmup):
            i = torch.from_numpy(i).to(dev)
            params = step(params, xs[i], ys[i])
        sync()
        rates = []
        for _ in range(args.windows):
            bs = [torch.from_numpy(i).to(dev) for i in order.take(args.window)]
            t = time.perf_counter()
            for i in bs:
                params = step(params, xs[i], ys[i])
            sync()
            rates.append(args.window / (time.perf_counter() - t))
        rows.append((rule, common.median(rates), rates))
    common.report(f"pytorch {torch.__version__} {name} select {args.select}", args, rows)


def check(args, x_all, y_all):
    import torch

    before = common.read_safetensors(args.check[0])
    after = common.read_safetensors(args.check[1])
    b = args.batch
    worst = 0.0
    for rule in args.rule:
        step = make_step(rule, b, 0.1, args.select)
        params = [(torch.from_numpy(w.copy()), torch.from_numpy(c.copy())) for w, c in before]
        got = step(params, torch.from_numpy(x_all[:b]), torch.from_numpy(y_all[:b].astype(np.int64)))
        for (gw, gb), (ww, wb) in zip(got, after):
            worst = max(worst, float(np.max(np.abs(gw.detach().numpy() - ww))),
                        float(np.max(np.abs(gb.detach().numpy() - wb))))
        print(f"{rule}: largest difference from winsor {worst:.2e}")
    if worst > 2e-5:
        sys.exit(f"the PyTorch step differs from winsor's by {worst:.2e} (tolerance 2e-5)")


def main():
    p = common.parser(__doc__)
    p.add_argument("--select", choices=["topk", "sort"], default="topk")
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    x, y = common.mnist()
    if args.check:
        check(args, x, y)
    else:
        bench(args, x, y)


if __name__ == "__main__":
    main()
