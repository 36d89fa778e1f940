#!/usr/bin/env bash
# A refactoring's benchmark check (docs/benchmarks.md, "Before and after"): two published CLIs, run interleaved
# (before, after, after, before, ...) so that a busy machine hurts both alike, each metric reported as the ratio
# after ÷ before of the same round and as the ratio of the two medians.
#   dotnet publish src/FusedOpt.Cli -c Release -o /tmp/before     # on the commit before the change
#   dotnet publish src/FusedOpt.Cli -c Release -o /tmp/after      # on the change
#   bench/before-after.sh /tmp/before /tmp/after [ROUNDS=4] [OUT=before-after.tsv]
#   (ISAS="avx512 avx2 scalar" and GEMM_THREADS="2 1" choose the GEMM runs; the step runs once per round and build.)
# Metrics: GEMM 1024³ GFLOP/s, the FMA peak measured in the same process and the fraction of it reached (avx512, avx2 and scalar where the machine
# runs them), and bench step adam 16M 2 threads: fused ÷ same-traffic probe (the throughput ratio the table prints,
# 1 = at the memory limit) and the fused and probe ns/param.
set -euo pipefail
before=${1:?before CLI folder}
after=${2:?after CLI folder}
rounds=${3:-4}
out=${4:-before-after.tsv}
isas=${ISAS:-"avx512 avx2 scalar"}
gemm_threads=${GEMM_THREADS:-"2 1"}

printf 'round\tbuild\tmetric\tvalue\n' > "$out"
measure() { # build-name folder round
  local name=$1 dir=$2 round=$3 isa threads json label
  for threads in $gemm_threads; do
    for isa in $isas; do
      [[ $isa == scalar && $threads != 2 ]] && continue # scalar once: it changes little and takes longest
      json=$("$dir/fusedopt" bench gemm --isa "$isa" --threads "$threads" --json) || continue
      label="gemm $isa ${threads}t"
      {
        printf '%s\t%s\t%s %% of peak\t%s\n' "$round" "$name" "$label" "$(jq '.fractionOfPeak * 100' <<<"$json")"
        printf '%s\t%s\t%s GFLOP/s\t%s\n' "$round" "$name" "$label" "$(jq '.gflops' <<<"$json")"
        printf '%s\t%s\t%s FMA peak GFLOP/s\t%s\n' "$round" "$name" "$label" "$(jq '.peakGflops' <<<"$json")"
      } >> "$out"
    done
  done
  json=$("$dir/fusedopt" bench step --optimizer adam --size 16M --threads 2 --json)
  {
    printf '%s\t%s\tstep fused ÷ probe (throughput, as printed)\t%s\n' "$round" "$name" "$(jq '.fractionOfProbe' <<<"$json")"
    printf '%s\t%s\tstep fused ns/param\t%s\n' "$round" "$name" "$(jq '.variants[0].nsPerParameter' <<<"$json")"
    printf '%s\t%s\tstep probe ns/param\t%s\n' "$round" "$name" "$(jq '.variants[3].nsPerParameter' <<<"$json")"
  } >> "$out"
}

for ((r = 1; r <= rounds; r++)); do
  echo "round $r/$rounds" >&2
  # Alternate which goes first, so that neither build always follows the other.
  if ((r % 2)); then
    measure before "$before" "$r"; measure after "$after" "$r"
  else
    measure after "$after" "$r"; measure before "$before" "$r"
  fi
done

# Per metric: each build's median and best (the highest rate, the lowest time) over the rounds, and after ÷ before of
# both. On a busy machine the best of several rounds is the steadier number: noise only ever makes a round slower.
python3 - "$out" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter='\t'))
metrics = list(dict.fromkeys(r['metric'] for r in rows))
print("| metric | before median | after median | after ÷ before (medians) | before best | after best | after ÷ before (bests) |")
print("|---|---:|---:|---:|---:|---:|---:|")
for m in metrics:
    v = {b: [float(r['value']) for r in rows if r['metric'] == m and r['build'] == b] for b in ('before', 'after')}
    best = min if m.endswith('ns/param') else max
    mb, ma = statistics.median(v['before']), statistics.median(v['after'])
    bb, ba = best(v['before']), best(v['after'])
    print(f"| {m} | {mb:.3f} | {ma:.3f} | {ma / mb:.3f} | {bb:.3f} | {ba:.3f} | {ba / bb:.3f} |")
PY
