#!/usr/bin/env bash
# Accuracy of compressed optimizer states (issue 14; docs/experiments.md, "Compressed optimizer states: accuracy").
# Trains the same runs with --state fp32, bf16 and q8 and leaves one `fusedopt train` folder per run:
#   fcn-<opt>-<state>[-s<seed>]  seed 001's FCN protocol (3x500 ReLU, first 4,000 images, batch 100, 10 epochs,
#                                2 threads) with Adam (lr 3e-4, the FCN study's rate) and AdaBelief (lr chosen here by
#                                the FCN study's rule: the lowest final training loss over 0.1 ... 1e-4 with fp32 states)
#   vgg-adam-<state>             the VGG11 2-epoch Adam check (lr 1e-3, weight decay 5e-4, crop + flip, batch 128)
# Finished runs are skipped and interrupted ones resumed, so the script can be run again (or in parts, see RUNS).
#   bench/compressed-states-study.sh [OUT_DIR=runs/compressed-states] [DATA_DIR=../shared/data/cifar-10-batches-bin]
# Environment: FUSEDOPT (the command, default dotnet run), FCN_SEEDS (default "1 2 3"), RUNS (space-separated run
# names or glob patterns to do, default all; e.g. RUNS='vgg-*' or RUNS='vgg-adam-q8').
set -euo pipefail
out=${1:-runs/compressed-states}
data=${2:-../shared/data/cifar-10-batches-bin}
fusedopt=${FUSEDOPT:-"dotnet run -c Release --project src/FusedOpt.Cli --"}
seeds=${FCN_SEEDS:-"1 2 3"}
only=${RUNS:-"*"}
states=(fp32 bf16 q8)
mkdir -p "$out"

fcn=(--model fcn --hidden 500,500,500 --subset 4000 --batch 100 --epochs 10 --threads 2 --data "$data")
vgg=(--model vgg11 --optimizer adam --lr 1e-3 --weight-decay 5e-4 --decay l2 --augment --epochs 2 --batch 128
     --threads 2 --seed 1 --data "$data")

# wanted NAME: NAME matches one of RUNS' patterns.
wanted() {
  local p pats; read -ra pats <<< "$only"
  for p in "${pats[@]}"; do [[ $1 == $p ]] && return 0; done  # $p unquoted: a glob pattern
  return 1
}

# run NAME EPOCHS ARGS...: train into $out/NAME unless finished; resume it if it has a checkpoint.
run() {
  local name=$1 epochs=$2; shift 2
  wanted "$name" || return 0
  local dir="$out/$name"
  if [[ -f "$dir/result.json" ]] && grep -q "\"epoch\": $epochs," "$dir/result.json"; then
    echo "$name: done"; return 0
  fi
  echo "$name: $(date -u +%H:%M:%S) start"
  if [[ -f "$dir/checkpoint.fopt" ]]; then
    $fusedopt train --resume "$dir"
  else
    $fusedopt train "$@" --out "$dir"
  fi
}

# AdaBelief is not in seed 001's study: choose its FCN rate as the study chose the others (fp32 states, seed 1).
sweep="$out/fcn-adabelief-sweep"
need_sweep=false
for seed in $seeds; do
  for state in "${states[@]}"; do
    wanted "fcn-adabelief-$state$([[ $seed == 1 ]] || echo "-s$seed")" && need_sweep=true
  done
done
if [[ ! -s "$sweep/chosen.txt" ]] && $need_sweep; then
  mkdir -p "$sweep"
  for lr in 0.1 0.03 0.01 0.003 0.001 0.0003 0.0001; do
    [[ -s "$sweep/lr-$lr.json" ]] && continue
    rm -rf "$sweep/lr-$lr"
    $fusedopt compare "${fcn[@]}" --seed 1 --optimizers adabelief --lr "$lr" --keep-going --out "$sweep/lr-$lr" \
      --json > "$sweep/lr-$lr.json.tmp"
    mv "$sweep/lr-$lr.json.tmp" "$sweep/lr-$lr.json"
  done
  python3 - "$sweep" <<'PY'
import glob, json, math, sys
sweep = sys.argv[1]
rows = []
for f in glob.glob(sweep + "/lr-*.json"):
    lr = f.rsplit("lr-", 1)[1][:-5]
    for r in json.load(open(f)):
        loss = r["finalTrainLoss"]
        loss = float("nan") if isinstance(loss, str) else loss  # a diverged run's loss is serialised as "NaN"
        acc = r.get("finalTestAccuracy", float("nan"))
        rows.append((float(lr), lr, loss, acc))
rows.sort(reverse=True)
for _, lr, loss, acc in rows:
    print(f"adabelief lr {lr}: final train loss {loss:.4f}, test accuracy {acc}")
best = min((r for r in rows if math.isfinite(r[2])), key=lambda r: r[2])
open(sweep + "/chosen.txt", "w").write(best[1])
PY
fi
adabelief_lr=$(cat "$sweep/chosen.txt" 2>/dev/null || true)
echo "fcn: adam lr 3e-4, adabelief lr ${adabelief_lr:-(not chosen yet)}"

for seed in $seeds; do
  suffix=$([[ $seed == 1 ]] && echo "" || echo "-s$seed")
  for state in "${states[@]}"; do
    run "fcn-adam-$state$suffix" 10 "${fcn[@]}" --seed "$seed" --optimizer adam --lr 3e-4 --state "$state"
    if [[ -n $adabelief_lr ]]; then
      run "fcn-adabelief-$state$suffix" 10 "${fcn[@]}" --seed "$seed" --optimizer adabelief --lr "$adabelief_lr" \
        --state "$state"
    fi
  done
done

for state in "${states[@]}"; do
  run "vgg-adam-$state" 2 "${vgg[@]}" --state "$state"
done

# Summary: final and best test accuracy per run and the difference to the fp32 run of the same optimizer and seed.
python3 - "$out" <<'PY' | tee "$out/summary.md"
import glob, json, os, re, statistics, sys
out = sys.argv[1]
runs = {}
for f in sorted(glob.glob(out + "/*/result.json")):
    name = os.path.basename(os.path.dirname(f))
    m = re.fullmatch(r"(fcn|vgg)-(\w+)-(fp32|bf16|q8)(?:-s(\d+))?", name)
    if not m:
        continue
    r = json.load(open(f))
    accs = [e["test"]["accuracy"] * 100 for e in r["epochs"] if e.get("test")]
    if not accs:
        continue
    key = (m[1], m[2], int(m[4] or 1))
    runs.setdefault(key, {})[m[3]] = (accs[-1], max(accs), r["finalTrainLoss"], len(accs))
print("| model | optimizer | seed | states | epochs | final test acc | best test acc | final train loss | final Δ vs fp32 (points) | best Δ vs fp32 |")
print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|")
deltas = {}
for (model, opt, seed), by_state in sorted(runs.items()):
    ref = by_state.get("fp32")
    for state in ("fp32", "bf16", "q8"):
        if state not in by_state:
            continue
        final, best, loss, epochs = by_state[state]
        d = f"{final - ref[0]:+.2f}" if ref and state != "fp32" else "—"
        db = f"{best - ref[1]:+.2f}" if ref and state != "fp32" else "—"
        if ref and state != "fp32":
            deltas.setdefault((model, opt, state), []).append(final - ref[0])
        print(f"| {model} | {opt} | {seed} | {state} | {epochs} | {final:.2f}% | {best:.2f}% | {loss:.4f} | {d} | {db} |")
print()
print("| model | optimizer | states | seeds | final Δ vs fp32 per seed | mean | largest \\|Δ\\| | fp32 final acc over seeds (spread) |")
print("|---|---|---|---:|---|---:|---:|---|")
for (model, opt, state), ds in sorted(deltas.items()):
    fp32 = [v["fp32"][0] for (mo, op, _), v in sorted(runs.items()) if (mo, op) == (model, opt) and "fp32" in v]
    spread = f"{min(fp32):.2f}–{max(fp32):.2f}% ({max(fp32) - min(fp32):.2f})" if len(fp32) > 1 else f"{fp32[0]:.2f}%"
    print(f"| {model} | {opt} | {state} | {len(ds)} | {', '.join(f'{d:+.2f}' for d in ds)} | {statistics.mean(ds):+.2f} "
          f"| {max(abs(d) for d in ds):.2f} | {spread} |")
PY
