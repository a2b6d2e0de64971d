#!/usr/bin/env python3
"""The summary table of compare.sh: for each rule, winsor's rate next to the fastest variant
of each peer, from the folder where compare.sh left winsor's markdown (winsor.md, and
winsor-again.md from its closing run) and each peer variant's --json (torch-<variant>.json,
jax-<variant>.json). Variants are picked per rule, so the table compares winsor with the
strongest baseline each peer has for that rule.

    python bench/peers/summary.py DIR
"""

import glob
import json
import os
import sys


def winsor_rates(path):
    """rule -> steps/s from `winsor bench`'s table (| rule | runs | run-steps/s | ... |)."""
    rates = {}
    with open(path) as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 3 and cells[1] == "1":
                rates[cells[0]] = float(cells[2])
    return rates


def fastest(folder, peer):
    """rule -> (variant, steps/s) of the fastest of the peer's variants."""
    best = {}
    for path in sorted(glob.glob(os.path.join(folder, f"{peer}-*.json"))):
        variant = os.path.basename(path)[len(peer) + 1:-len(".json")]
        with open(path) as f:
            for row in json.load(f)["rows"]:
                if row["rule"] not in best or row["steps_per_s"] > best[row["rule"]][1]:
                    best[row["rule"]] = (variant, row["steps_per_s"])
    return best


def main():
    folder = sys.argv[1]
    ours = winsor_rates(os.path.join(folder, "winsor.md"))
    torch, jax = fastest(folder, "torch"), fastest(folder, "jax")
    print("| rule | winsor steps/s | strongest PyTorch | strongest JAX | winsor / strongest peer |")
    print("|---|---|---|---|---|")
    for rule, rate in ours.items():
        peers = [p for p in (torch.get(rule), jax.get(rule)) if p]
        cell = lambda p: f"{p[0]} {p[1]:.1f}" if p else "-"
        ratio = f"{rate / max(r for _, r in peers):.2f}x" if peers else "-"
        print(f"| {rule} | {rate:.1f} | {cell(torch.get(rule))} | {cell(jax.get(rule))} | {ratio} |")
    again = os.path.join(folder, "winsor-again.md")
    if os.path.exists(again):
        print("\nwinsor again after the peers (the machine's drift meanwhile): "
              + ", ".join(f"{rule} {rate:.1f}" for rule, rate in winsor_rates(again).items()))


if __name__ == "__main__":
    main()
