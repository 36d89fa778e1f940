#!/usr/bin/env bash
# Gadam (seed 004 §6.1) against Adam at equal gradient evaluations on seed 001's FCN protocol: FCN 3×500 ReLU, the
# first 4,000 CIFAR-10 training images, batch 100, Adam lr 3e-4 (the best Adam rate of docs/experiments.md's sweep),
# test accuracy on all 10,000 test images.
#   Gadam: population g = 4, K = 6 generations, E = 1 epoch per member per generation, validation batches of 500
#          training images, base mutation rate 0.01, mutation init (default) and uniform (the seed's rand(0, 1)).
#          Gradient evaluations: 2·g·E·K = 48 epochs of 4,000 images (g parents and g children per generation).
#   Adam:  48 epochs, the same budget.
# Seeds 1, 2, 3. Then: standalone against parallel throughput (and bit-identity), and 2 and 4 Open MPI ranks against
# standalone (bit-identity, bytes sent). Usage: docs/study/gadam-study.sh [DATA_DIR] [OUT_DIR]
set -euo pipefail
data=${1:-../shared/data/cifar-10-batches-bin}
out=${2:-runs/gadam-study}
dotnet build src/FusedOpt.Cli -c Release -v quiet -nologo >/dev/null
dll=src/FusedOpt.Cli/bin/Release/net10.0/fusedopt.dll
fusedopt() { dotnet "$dll" "$@"; }
mkdir -p "$out"

protocol=(--model fcn --hidden 500,500,500 --subset 4000 --batch 100 --lr 3e-4 --data "$data")
gadam=(gadam "${protocol[@]}" --population 4 --epochs-per-generation 1 --validation-batch 500 --mutation-rate 0.01)
done_() { [ -f "$1/result.json" ]; }  # a rerun skips the runs that finished

for seed in 1 2 3; do
  for mutation in init uniform; do
    done_ "$out/gadam-$mutation-s$seed" ||
      fusedopt "${gadam[@]}" --generations 6 --mutation "$mutation" --seed "$seed" --mode parallel --workers 2 --out "$out/gadam-$mutation-s$seed" --json > /dev/null
  done
  done_ "$out/adam-s$seed" ||
    fusedopt train "${protocol[@]}" --optimizer adam --epochs 48 --seed "$seed" --threads 2 --out "$out/adam-s$seed" --json > /dev/null
done

# Throughput: one generation standalone (members one after another) and parallel (2 at a time), no test evaluation.
short=("${gadam[@]}" --generations 1 --no-test --seed 1 --mutation init)
done_ "$out/mode-standalone" || fusedopt "${short[@]}" --mode standalone --out "$out/mode-standalone" --json > /dev/null
done_ "$out/mode-parallel" || fusedopt "${short[@]}" --mode parallel --workers 2 --out "$out/mode-parallel" --json > /dev/null

# Open MPI: 2 and 4 ranks (loopback, oversubscribed on this 2-core machine) against the standalone run.
mpi=(mpirun --oversubscribe -np)
if [ "$(id -u)" = 0 ]; then mpi=(mpirun --allow-run-as-root --oversubscribe -np); fi
dist=("${gadam[@]}" --generations 2 --no-test --seed 1 --mutation init)
done_ "$out/mpi-1" || fusedopt "${dist[@]}" --out "$out/mpi-1" --json > /dev/null
for ranks in 2 4; do
  done_ "$out/mpi-$ranks" || "${mpi[@]}" "$ranks" dotnet "$dll" "${dist[@]}" --out "$out/mpi-$ranks" --json > /dev/null
done

fusedopt gadam plot "$out/gadam-init-s1" "$out/gadam-uniform-s1" "$out/adam-s1" --out docs/img/gadam-fcn-s1
python3 docs/study/gadam-summary.py "$out" | tee "$out/summary.md"
