#!/usr/bin/env python3
"""The two tables of docs/experiments.md's VGG11 study section, from the runs' metrics.jsonl epoch records:
best and final test accuracy beside seed 000's Table 1, and test accuracy / mean training loss per epoch.
    python3 bench/vgg11-study-table.py [RUNS_DIR=runs/vgg11]   (folders sgdm, adam, adabelief; unfinished runs count)"""
import json, sys, os
runs = [("SGD-momentum", "sgdm", 90.08), ("Adam", "adam", 88.36), ("AdaBelief", "adabelief", 91.63)]
root = sys.argv[1] if len(sys.argv) > 1 else "runs/vgg11"
print("| optimizer | seed 000, Table 1: best test accuracy (200 epochs, LR ×0.1 at epoch 150) | here: best test accuracy (epoch), 20 epochs, LR ×0.1 at epoch 15 | here: final test accuracy | final train loss | epochs done |")
print("|---|---:|---:|---:|---:|---:|")
per = {}
for label, d, seed in runs:
    path = os.path.join(root, d, "metrics.jsonl")
    eps = []
    if os.path.exists(path):
        for line in open(path):
            try: r = json.loads(line)
            except Exception: continue
            if r.get("kind") == "epoch" and r.get("testAccuracy") is not None:
                eps.append(r)
    per[label] = eps
    if not eps:
        print(f"| {label} | {seed:.2f}% | " + ("in progress, no epoch finished" if os.path.exists(path) else "not started") + " | – | – | 0 of 20 |"); continue
    best = max(eps, key=lambda r: r["testAccuracy"])
    last = eps[-1]
    print(f"| {label} | {seed:.2f}% | **{100*best['testAccuracy']:.2f}%** ({best['epoch']}) | {100*last['testAccuracy']:.2f}% | {last['trainLoss']:.3f} | {last['epoch']} of 20 |")
print()
print("| epoch | " + " | ".join(l for l,_,_ in runs) + " |")
print("|---:|" + "---:|"*len(runs))
for e in range(1, 21):
    cells = []
    for l,_,_ in runs:
        m = [r for r in per[l] if r["epoch"] == e]
        cells.append(f"{100*m[0]['testAccuracy']:.2f}% / {m[0]['trainLoss']:.3f}" if m else "–")
    print(f"| {e} | " + " | ".join(cells) + " |")
