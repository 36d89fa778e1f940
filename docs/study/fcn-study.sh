#!/usr/bin/env bash
# Reproduces seed 001's study (Fischer): FCN 3×500 ReLU, the first 4,000 CIFAR-10 training images, batch 100,
# 10 epochs (400 iterations), SGD, SGD-momentum, SGD-Nesterov, RMSprop, Adam (+ Adagrad), test accuracy on all
# 10,000 test images. The paper's learning rates were in figures lost from the text, so each optimizer gets a small
# sweep; the rate with the lowest final training loss (the paper's convergence criterion; no test data involved)
# is used for the final comparison. Usage: docs/study/fcn-study.sh [DATA_DIR] [OUT_DIR]
set -euo pipefail
data=${1:-../shared/data/cifar-10-batches-bin}
out=${2:-runs/fcn-study}
fusedopt() { dotnet run -c Release --project src/FusedOpt.Cli --no-build -- "$@"; }
dotnet build src/FusedOpt.Cli -c Release -v quiet -nologo >/dev/null
mkdir -p "$out"

common=(--model fcn --hidden 500,500,500 --subset 4000 --batch 100 --epochs 10 --seed 1 --threads 2 --data "$data")
optimizers=sgd,sgd-momentum,sgd-nesterov,rmsprop,adam,adagrad

for lr in 0.1 0.03 0.01 0.003 0.001 0.0003 0.0001; do
  fusedopt compare "${common[@]}" --optimizers "$optimizers" --lr "$lr" --keep-going --out "$out/sweep/lr-$lr" --json > "$out/sweep-$lr.json"
done

# Pick, per optimizer, the rate with the lowest final training loss.
python3 - "$out" <<'PY'
import glob, json, math, os, sys
out = sys.argv[1]
best = {}
for f in glob.glob(out + "/sweep-*.json"):
    lr = float(f.rsplit("sweep-", 1)[1][:-5])
    for r in json.load(open(f)):
        loss = r["finalTrainLoss"]
        loss = float("nan") if isinstance(loss, str) else loss  # a diverged run's loss is serialised as "NaN"
        if math.isfinite(loss) and (r["name"] not in best or loss < best[r["name"]][1]):
            best[r["name"]] = (lr, loss)
open(out + "/chosen.txt", "w").write(",".join(f"{k}={v[0]}" for k, v in sorted(best.items())))
PY
chosen=$(cat "$out/chosen.txt")
echo "chosen learning rates: $chosen"

fusedopt compare "${common[@]}" --optimizers "$optimizers" --lr "$chosen" --also-naive --out "$out/final"
