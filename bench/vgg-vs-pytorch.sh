#!/usr/bin/env bash
# VGG11-BN training throughput, FusedOpt vs PyTorch, measured side by side in one run (benchmark only: never part of
# the build or the tests). Rounds alternate between the two so a noisy neighbour slows both alike; each side's best
# iteration counts. Needs Debian's python3-torch (PyTorch 1.13, oneDNN) at /usr/bin/python3 and a Release build:
#   dotnet build src/FusedOpt.Cli -c Release && bench/vgg-vs-pytorch.sh [batch] [threads] [rounds] [width]
set -euo pipefail
cd "$(dirname "$0")/.."
batch=${1:-128}; threads=${2:-2}; rounds=${3:-2}; width=${4:-1}
python=${PYTHON:-/usr/bin/python3}
fusedopt=src/FusedOpt.Cli/bin/Release/net10.0/fusedopt
out=$(mktemp -d)
for r in $(seq 1 "$rounds"); do
  "$fusedopt" bench train --model vgg11 --width "$width" --batch "$batch" --threads "$threads" --iterations 5 --json > "$out/ours$r.json"
  "$python" bench/pytorch/vgg_train.py --width "$width" --batch "$batch" --threads "$threads" --iterations 5 --warmup 2 > "$out/torch$r.json"
done
"$python" - "$out" "$rounds" <<'PY'
import json, sys
out, rounds = sys.argv[1], int(sys.argv[2])
ours = [json.load(open(f"{out}/ours{r}.json")) for r in range(1, rounds + 1)]
torch = [json.load(open(f"{out}/torch{r}.json")) for r in range(1, rounds + 1)]
o = max(x["fusedImagesPerSecond"] for x in ours)
t = max(x["imagesPerSecond"] for x in torch)
print(json.dumps({
    "fusedoptImagesPerSecond": o, "pytorchImagesPerSecond": t, "ratio": o / t,
    "fusedoptPeakMiB": max(x["peakWorkingSetMiB"] for x in ours), "pytorchPeakMiB": max(x["peakResidentMiB"] for x in torch),
    "fmaPeakGflops": [x["peakGflops"] for x in ours], "pytorch": torch[0]["framework"], "rounds": rounds,
    "perRound": [{"fusedopt": a["fusedImagesPerSecond"], "pytorch": b["imagesPerSecond"]} for a, b in zip(ours, torch)],
}, indent=2))
PY
rm -rf "$out"
