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

# Per metric: each build's median over the rounds and their ratio, the per-round ratios after ÷ before (median and
# quartiles) and in how many rounds the after build did better. Several files (runs of this script) may be given to the
# summary together: python3 - a.tsv b.tsv reads them all.
python3 - "$out" <<'PY'
import csv, statistics, sys
rows = [(f"{i}:{r['round']}", r['build'], r['metric'], float(r['value']))
        for i, path in enumerate(sys.argv[1:]) for r in csv.DictReader(open(path), delimiter='\t')]
metrics = list(dict.fromkeys(m for _, _, m, _ in rows))
print("| metric | rounds | before median | after median | after ÷ before (medians) | per-round after ÷ before: median [quartiles] | rounds after better |")
print("|---|---:|---:|---:|---:|---:|---:|")
for m in metrics:
    by_round = {}
    for rnd, build, metric, value in rows:
        if metric == m:
            by_round.setdefault(rnd, {})[build] = value
    pairs = [(v['before'], v['after']) for v in by_round.values() if len(v) == 2]
    ratios = sorted(a / b for b, a in pairs)
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    lower_is_better = m.endswith('ns/param')
    better = sum(1 for b, a in pairs if (a < b if lower_is_better else a > b))
    mb, ma = statistics.median(b for b, _ in pairs), statistics.median(a for _, a in pairs)
    print(f"| {m} | {len(pairs)} | {mb:.3f} | {ma:.3f} | {ma / mb:.3f} | {statistics.median(ratios):.3f} [{q[0]:.2f}–{q[2]:.2f}] | {better}/{len(pairs)} |")
PY
