"""Summarises docs/study/gadam-study.sh's runs as Markdown tables: python3 docs/study/gadam-summary.py OUT_DIR."""
import json, os, statistics, sys

out = sys.argv[1]
load = lambda name: json.load(open(os.path.join(out, name, "result.json")))
num = lambda v: float("nan") if isinstance(v, str) else v

print("| seed | run | gradient evaluations (epochs) | final test accuracy | best test accuracy | final test loss |")
print("| --- | --- | --- | --- | --- | --- |")
finals = {}
for seed in (1, 2, 3):
    for kind in ("gadam-init", "gadam-uniform", "adam"):
        name = f"{kind}-s{seed}"
        if not os.path.exists(os.path.join(out, name, "result.json")):
            continue
        r = load(name)
        if kind == "adam":
            acc = [e["test"]["accuracy"] for e in r["epochs"]]
            loss = [num(e["test"]["loss"]) for e in r["epochs"]]
            evals = len(acc)
        else:
            h = r["history"]
            acc = [g["testAccuracy"] for g in h]
            loss = [num(g["testLoss"]) for g in h]
            o = r["options"]
            evals = 2 * o["population"] * o["epochsPerGeneration"] * len(h)
        finals.setdefault(kind, []).append((acc[-1], max(acc), loss[-1]))
        print(f"| {seed} | {kind} | {evals} | {acc[-1]:.2%} | {max(acc):.2%} | {loss[-1]:.3f} |")

print()
print("| run | mean final test accuracy | mean best test accuracy | mean final test loss |")
print("| --- | --- | --- | --- |")
for kind, rows in finals.items():
    print(f"| {kind} | {statistics.mean(r[0] for r in rows):.2%} | {statistics.mean(r[1] for r in rows):.2%} | {statistics.mean(r[2] for r in rows):.3f} |")

print()
print("Adam along the way: test accuracy and loss after 12 epochs (2·E·K, the most epochs one Gadam lineage trains) and 24.")
print()
print("| seed | epoch 12 accuracy | epoch 12 loss | epoch 24 accuracy | epoch 24 loss | epoch 48 train loss |")
print("| --- | --- | --- | --- | --- | --- |")
for seed in (1, 2, 3):
    name = f"adam-s{seed}"
    if os.path.exists(os.path.join(out, name, "result.json")):
        e = load(name)["epochs"]
        print(f"| {seed} | {e[11]['test']['accuracy']:.2%} | {num(e[11]['test']['loss']):.3f} | {e[23]['test']['accuracy']:.2%} | {num(e[23]['test']['loss']):.3f} | {num(e[-1]['trainLoss']):.4f} |")

print()
print("| mode | img/s (training, all members) | population hash |")
print("| --- | --- | --- |")
for mode in ("standalone", "parallel"):
    name = f"mode-{mode}"
    if os.path.exists(os.path.join(out, name, "result.json")):
        r = load(name)
        print(f"| {mode} | {r['imagesPerSecond']:,.0f} | {r['populationHash']} |")

print()
print("| ranks | population hash | bytes sent (2 generations) | seconds |")
print("| --- | --- | --- | --- |")
for ranks in (1, 2, 4):
    name = f"mpi-{ranks}"
    if os.path.exists(os.path.join(out, name, "result.json")):
        r = load(name)
        print(f"| {ranks} | {r['populationHash']} | {r['bytesSent']:,} | {r['seconds']:.0f} |")

# Mutation counts and survivors, seed 1 (init).
name = "gadam-init-s1"
if os.path.exists(os.path.join(out, name, "result.json")):
    print()
    print("| generation | fitness losses | pairs (i×j) | mutated | survivors (0–3 parents, 4–7 children) | best / mean selection loss |")
    print("| --- | --- | --- | --- | --- | --- |")
    for g in load(name)["history"]:
        fit = ", ".join(f"{l:.3f}" for l in g["fitnessLosses"])
        pairs = " ".join(f"{p['first']}×{p['second']}" for p in g["pairs"])
        mutated = sum(p["mutated"] for p in g["pairs"])
        print(f"| {g['generation']} | {fit} | {pairs} | {mutated:,} | {g['survivors']} | {g['bestLoss']:.3f} / {g['meanLoss']:.3f} |")
