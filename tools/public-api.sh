#!/usr/bin/env bash
# The public-API baseline of a project (Roslyn PublicApiAnalyzers): PublicAPI.Shipped.txt (released surface) and
# PublicAPI.Unshipped.txt (changes since), one line per public symbol, beside the .csproj. A change to the surface
# then shows up in review as a line added to or removed from these files.
#
#   tools/public-api.sh [--update|--check|--ship] path/to/Project.csproj
#
#   --update (default)  build with the analyzers and bring the files in line with the code: every public symbol not in
#                       either file (RS0016) is added to Unshipped; every line whose symbol is gone (RS0017) is removed
#                       from Unshipped, or, if it was shipped, recorded in Unshipped as *REMOVED*<line>.
#   --check             build and list RS0016/RS0017; exit 1 if the files and the code disagree (for CI).
#   --ship              after a release: move Unshipped's lines into Shipped (dropping the *REMOVED* ones and the
#                       shipped lines they name), leaving Unshipped empty. No build.
#
# The project files need not reference the analyzers: tools/PublicApi.targets adds them for this one build only
# (package Microsoft.CodeAnalysis.PublicApiAnalyzers, version PUBLIC_API_ANALYZERS_VERSION, default 5.6.0). Other
# RS00xx findings of the analyzers (API design rules such as RS0026/RS0027 on optional parameters) are listed, not fixed.
# Files start with '#nullable enable', so nullable annotations are part of each line ('string!', 'string?').
set -euo pipefail

mode=update
case "${1:-}" in
  --update|--check|--ship) mode=${1#--}; shift ;;
esac
project=${1:?usage: tools/public-api.sh [--update|--check|--ship] path/to/Project.csproj}
[[ -f $project && $project == *.csproj ]] || { echo "public-api: '$project' is not a .csproj file" >&2; exit 2; }
project=$(cd "$(dirname "$project")" && pwd)/$(basename "$project")
dir=$(dirname "$project")
shipped=$dir/PublicAPI.Shipped.txt
unshipped=$dir/PublicAPI.Unshipped.txt
tools=$(cd "$(dirname "$0")" && pwd)

for f in "$shipped" "$unshipped"; do
  [[ -f $f ]] || printf '#nullable enable\n' > "$f"
done

if [[ $mode == ship ]]; then
  python3 - "$shipped" "$unshipped" <<'PY'
import sys
shipped_path, unshipped_path = sys.argv[1:]
def lines(path):
    return [l.rstrip('\n') for l in open(path, encoding='utf-8') if l.strip() and not l.startswith('#')]
removed = {l[len('*REMOVED*'):] for l in lines(unshipped_path) if l.startswith('*REMOVED*')}
added = [l for l in lines(unshipped_path) if not l.startswith('*REMOVED*')]
kept = [l for l in lines(shipped_path) if l not in removed]
with open(shipped_path, 'w', encoding='utf-8', newline='\n') as f:
    f.write('#nullable enable\n' + ''.join(l + '\n' for l in sorted(set(kept + added), key=lambda s: s.encode())))
with open(unshipped_path, 'w', encoding='utf-8', newline='\n') as f:
    f.write('#nullable enable\n')
print(f"public-api: shipped {len(added)} added and {len(removed)} removed line(s); {shipped_path} now has {len(set(kept + added))}")
PY
  exit 0
fi

log=$(mktemp -d)/public-api.sarif
trap 'rm -rf "$(dirname "$log")"' EXIT
# Warnings stay warnings here (the project may treat them as errors): they are what this script reads.
if ! dotnet build "$project" -c "${CONFIGURATION:-Release}" -nologo -v:q -clp:NoSummary \
    -p:TreatWarningsAsErrors=false -p:CustomAfterMicrosoftCommonTargets="$tools/PublicApi.targets" \
    -p:PublicApiProject="$project" -p:PublicApiLog="$log" \
    -p:PublicApiAnalyzersVersion="${PUBLIC_API_ANALYZERS_VERSION:-5.6.0}" > "$log.build" 2>&1; then
  cat "$log.build" >&2
  echo "public-api: the build of $project failed" >&2
  exit 2
fi
[[ -f $log ]] || { echo "public-api: the compiler wrote no diagnostics log ($log); was $project compiled?" >&2; exit 2; }

python3 - "$mode" "$log" "$shipped" "$unshipped" <<'PY'
import json, re, sys
mode, log, shipped_path, unshipped_path = sys.argv[1:]
results = [r for run in json.load(open(log, encoding='utf-8-sig'))['runs'] for r in run.get('results', [])]
def symbol(r):
    m = re.search(r"Symbol '(.*)' (?:is not part of|is part of)", r['message']['text'])
    return m.group(1) if m else None
missing = sorted({symbol(r) for r in results if r['ruleId'] == 'RS0016'} - {None}, key=lambda s: s.encode())
gone = sorted({symbol(r) for r in results if r['ruleId'] == 'RS0017'} - {None}, key=lambda s: s.encode())
other = {}
for r in results:
    if r['ruleId'].startswith('RS00') and r['ruleId'] not in ('RS0016', 'RS0017'):
        other.setdefault(r['ruleId'], []).append(r['message']['text'])

if mode == 'check':
    for s in missing: print(f"RS0016 not in PublicAPI.*.txt: {s}")
    for s in gone: print(f"RS0017 in PublicAPI.*.txt but gone: {s}")
else:
    def read(path):
        return [l.rstrip('\n') for l in open(path, encoding='utf-8') if l.strip() and not l.startswith('#')]
    shipped, unshipped = set(read(shipped_path)), read(unshipped_path)
    gone_set = set(gone)
    new_unshipped = [l for l in unshipped if l not in gone_set]
    new_unshipped += missing
    new_unshipped += ['*REMOVED*' + s for s in gone if s in shipped and '*REMOVED*' + s not in unshipped]
    with open(unshipped_path, 'w', encoding='utf-8', newline='\n') as f:
        f.write('#nullable enable\n' + ''.join(l + '\n' for l in sorted(set(new_unshipped), key=lambda s: s.encode())))
    print(f"public-api: {len(missing)} symbol(s) added to and {len(gone)} removed from {unshipped_path}")
for rule, messages in sorted(other.items()):
    print(f"{rule}: {len(messages)} finding(s), e.g. {messages[0]}")
sys.exit(1 if mode == 'check' and (missing or gone) else 0)
PY
