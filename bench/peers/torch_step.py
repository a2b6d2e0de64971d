#!/usr/bin/env python3
"""The winsor training step in PyTorch, as an honest peer for `winsor bench`.

Same model (an MLP with ReLU hidden layers, softmax cross-entropy), same data (the MNIST
copy in assets/), same step. Per-example gradients are the explicit outer products of each
example's output error d and its layer input a (what torch.func.vmap(grad) computes, without
its overhead): g[e] = d[e] a[e]^T for the weights and d[e] for the biases, with d backpropagated
by hand through the ReLUs. Each coordinate is clipped to its k-th smallest and largest value
over the minibatch, the clipped values are averaged, and SGD updates the weights. `mean` is
plain autograd of the minibatch mean loss, the usual way to train in PyTorch.

--select picks how the clip bounds are found (winsor rules only):
  registers           (default) k+1 running maxima and minima per coordinate, updated example
                      by example with torch.maximum/minimum (an insertion network), each
                      example's gradient formed on the fly into a preallocated buffer; nothing
                      of size B x parameters is materialised. Coordinates go in cache-sized
                      blocks, and inputs that are 0 for the whole batch are skipped (exact).
                      See clipped_sums_eager.
  registers-compiled  the same network unrolled over the batch under torch.compile, so that
                      inductor fuses it into C++ loops; its compile time and generated code
                      grow steeply with k (see clipped_sum_compiled).
  topk, sort          the weak baselines: materialise all B per-example gradients, then
                      torch.topk of k+1 per side or a full torch.sort along the batch.

    python bench/peers/torch_step.py --rule mean winsor:1 winsor:8 --arch 3x256 [--device cuda]
    python bench/peers/torch_step.py --check INIT.safetensors AFTER.safetensors --rule winsor:1

--check: as in jax_step.py. Needs torch and numpy.
"""

import sys
import time

import numpy as np

import common


SELECTS = ["registers", "registers-compiled", "topk", "sort"]


class Extremes:
    """The k+1 largest values seen so far at every coordinate, sorted (r[0] the largest), or with
    keep=torch.minimum and drop=torch.maximum the k+1 smallest (r[0] the smallest).

    insert() is one pass of an insertion network: at level j the larger of r[j] and the
    incoming value stays and the smaller moves on to level j+1. It never reorders equal values
    wrongly, so with ties r holds exactly the multiset of the k+1 extremes. Every op writes into
    preallocated buffers (out=) because the work is memory-bound and B*(4k+3) ops a step."""

    def __init__(self, k, like, keep, drop):
        import torch

        self.k, self.keep, self.drop = k, keep, drop
        self.r = [torch.empty_like(like) for _ in range(k + 1)]
        self.t, self.v = torch.empty_like(like), torch.empty_like(like)

    def insert(self, g, e):
        """Insert g (not modified), the e-th value (from 0) at every coordinate."""
        r, cur = self.r, g
        for j in range(min(e, self.k)):
            self.keep(r[j], cur, out=self.t)
            self.drop(r[j], cur, out=self.v)
            r[j], self.t, cur = self.t, r[j], self.v
        if e <= self.k:  # level e is still empty: the value moving on lands there
            r[e].copy_(cur)
        else:  # the value falling off the last level is dropped
            self.keep(r[self.k], cur, out=r[self.k])

    def excess(self):
        """sum over the k extremes of (extreme - bound), the bound being the (k+1)-th, r[k]."""
        return sum(self.r[:self.k], -self.k * self.r[self.k])


# What one block of clipped_sums_eager may keep in buffers: about 2/3 of this machine's 16 MB
# L3 cache. Measured on 2 cores (3x256, B = 100): 1 block is fastest at k = 1, 2 at k = 2 and 4,
# 3 at k = 8 (a third faster than 1 block there), which is what this budget gives.
BLOCK_BYTES = 10 << 20


def clipped_sums_eager(pairs, k_lo, k_hi):
    """sum_e clamp(d[e] a[e]^T, lo, hi) for each layer's (d, a), with lo/hi the (k_lo+1)-th
    smallest and (k_hi+1)-th largest value of each coordinate over the batch.

    The work is memory-bound: B passes of the insertion network over k_lo + k_hi + 7 buffers
    as large as the gradient. So the coordinates (each layer's output units) go in blocks whose
    buffers fit in the cache (BLOCK_BYTES), and within a block all layers share one flat buffer,
    so that an example costs a handful of large ops rather than a handful per layer (an op's
    overhead is ~5 us, a large op's work ~50 us)."""
    import torch

    n = sum(d.shape[1] * a.shape[1] for d, a in pairs)
    blocks = -(-(k_lo + k_hi + 7) * n * 4 // BLOCK_BYTES)
    split = zip(*[torch.tensor_split(d, blocks, dim=1) for d, _ in pairs])
    parts = [block_sums([(d, a) for d, (_, a) in zip(ds, pairs)], k_lo, k_hi) for ds in split]
    return [torch.cat(layer, dim=0) for layer in zip(*parts)]


def block_sums(pairs, k_lo, k_hi):
    """clipped_sums_eager for one block, all its layers in one flat buffer. The clipped sum
    follows from the plain sum d^T a (one matrix product) and the kept extremes: clamping
    replaces the k largest values by hi and the k smallest by lo, so sum clamp(g) = sum g -
    (sum of the k largest - k hi) - (sum of the k smallest - k lo), exact with ties since
    equal values clamp to themselves."""
    import torch

    shapes = [(d.shape[1], a.shape[1]) for d, a in pairs]
    sizes = [o * i for o, i in shapes]
    g = torch.empty(sum(sizes), device=pairs[0][0].device)  # one example's gradient, flat
    views = [v.view(shape) for v, shape in zip(torch.split(g, sizes), shapes)]
    hi = Extremes(k_hi, g, torch.maximum, torch.minimum)
    lo = Extremes(k_lo, g, torch.minimum, torch.maximum)
    for e in range(pairs[0][0].shape[0]):
        for (d, a), view in zip(pairs, views):
            torch.mul(d[e, :, None], a[e, None, :], out=view)
        hi.insert(g, e)
        lo.insert(g, e)
    correction = torch.split(lo.excess() + hi.excess(), sizes)  # sum g - sum clamp(g), flat
    return [d.T @ a - c.view(shape) for (d, a), c, shape in zip(pairs, correction, shapes)]


def clipped_sum_compiled(d, a, k_lo, k_hi):
    """clipped_sums_eager for one layer, written functionally and unrolled over the batch for
    torch.compile: inductor fuses the network into C++ loops over the coordinates, which keeps
    the extremes in CPU registers instead of streaming them through memory B times. The graph
    has about B(2k+2) nodes per side, so compile time grows with k (the warm-up column of the
    output shows it), and at k = 2 inductor already generates several loops over the
    coordinates rather than one (TORCH_LOGS=output_code shows them)."""
    import torch

    def extremes(keep, drop, k):
        r = []
        for e in range(d.shape[0]):
            v = d[e, :, None] * a[e, None, :]
            for j in range(len(r)):
                r[j], v = keep(r[j], v), drop(r[j], v)
            if len(r) <= k:
                r.append(v)
        return sum(r[:k], -k * r[k])

    excess = extremes(torch.maximum, torch.minimum, k_hi) + extremes(torch.minimum, torch.maximum, k_lo)
    return d.T @ a - excess


def make_step(rule, b, lr, select):
    import torch

    k_lo, k_hi = common.clip_counts(rule, b)

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

    def bounds(g):
        if select == "sort":
            s, _ = torch.sort(g, dim=0)
            return s[k_lo], s[b - 1 - k_hi]
        hi = torch.topk(g, k_hi + 1, dim=0).values[-1]
        lo = torch.topk(g, k_lo + 1, dim=0, largest=False).values[-1]
        return lo, hi

    def materialised(pairs):
        out = []
        for d, a in pairs:
            g = d[:, :, None] * a[:, None, :]  # (B, out, in + 1): every example's gradient
            lo, hi = bounds(g)
            out.append(torch.clamp(g, lo, hi).sum(dim=0))
        return out

    def without_zero_inputs(pairs):
        """clipped_sums_eager, skipping the inputs that are 0 for every example in the batch
        (about a third of MNIST's pixels in a batch of 100): every example's gradient is 0
        there, and so is the clipped sum. Exact; the shapes change from batch to batch, which
        only the eager form tolerates."""
        used = [torch.nonzero(a.ne(0).any(dim=0)).squeeze(1) for _, a in pairs]
        sums = clipped_sums_eager([(d, a[:, u]) for (d, a), u in zip(pairs, used)], k_lo, k_hi)
        return [torch.zeros(d.shape[1], a.shape[1], device=d.device).index_copy_(1, u, s)
                for (d, a), u, s in zip(pairs, used, sums)]

    if select == "registers":
        clipped_sums = without_zero_inputs
    elif select == "registers-compiled":
        torch._dynamo.reset()  # a fresh compile per rule: its graphs would crowd out the next's
        one = torch.compile(clipped_sum_compiled, dynamic=False)
        clipped_sums = lambda pairs: [one(d, a, k_lo, k_hi) for d, a in pairs]
    else:
        clipped_sums = materialised

    @torch.no_grad()
    def step(params, x, y):
        acts = [x]
        for w, bias in params[:-1]:
            acts.append(torch.relu(acts[-1] @ w.T + bias))
        z = acts[-1] @ params[-1][0].T + params[-1][1]
        d = torch.softmax(z, dim=1)
        d[torch.arange(b), y] -= 1.0
        pairs = [None] * len(params)  # (output error, input with a column of ones for the bias)
        for l in range(len(params) - 1, -1, -1):
            pairs[l] = (d, torch.cat([acts[l], torch.ones(b, 1, device=d.device)], dim=1))
            if l > 0:
                d = (d @ params[l][0]) * (acts[l] > 0)
        return [(w - lr / b * s[:, :-1], c - lr / b * s[:, -1])
                for (w, c), s in zip(params, clipped_sums(pairs))]

    return step


def bench(args, x_all, y_all):
    import torch

    dev = torch.device(args.device)
    b = args.batch
    xs = torch.from_numpy(x_all).to(dev)
    ys = torch.from_numpy(y_all.astype(np.int64)).to(dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"# PyTorch {torch.__version__} peer on {name} ({how(args)}): {args.arch} batch {b}, "
          f"median of {args.windows} windows of {args.window} steps after {args.warmup} warm-up steps")
    rows = []
    for rule in args.rule:
        step = make_step(rule, b, 0.1, args.select)
        params = [(torch.from_numpy(w).to(dev), torch.from_numpy(c).to(dev))
                  for w, c in common.init_params(common.widths(args.arch), 0)]
        order = common.Batches(xs.shape[0], b)
        t = time.perf_counter()
        for i in order.take(args.warmup):
            i = torch.from_numpy(i).to(dev)
            params = step(params, xs[i], ys[i])
        sync()
        warm = time.perf_counter() - t  # the warm-up steps, torch.compile included
        rates = []
        for _ in range(args.windows):
            bs = [torch.from_numpy(i).to(dev) for i in order.take(args.window)]
            t = time.perf_counter()
            for i in bs:
                params = step(params, xs[i], ys[i])
            sync()
            rates.append(args.window / (time.perf_counter() - t))
        rows.append((rule, common.median(rates), rates, warm))
    common.report(f"pytorch {torch.__version__} {name} {how(args)}", args, rows)


def how(args):
    return "autograd" if args.rule == ["mean"] else f"select {args.select}"


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
    p.add_argument("--select", choices=SELECTS, default="registers",
                   help="how the winsor rules find their clip bounds (mean: plain autograd)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    x, y = common.mnist()
    if args.check:
        check(args, x, y)
    else:
        bench(args, x, y)


if __name__ == "__main__":
    main()
