#!/usr/bin/env bash
# The result runs of the prompt-guided constraints (issue 11), then the generated table of docs/results.md.
#
#   bash scripts/prompt-runs.sh                 # every setting below, seeds 1 2 3, full length
#   SEEDS="1" EPOCHS=2 LIMIT=2000 EVAL_LIMIT=1000 JOBS=1 bash scripts/prompt-runs.sh   # a smoke test
#   ONLY=hard-rrr-prompt bash scripts/prompt-runs.sh                                     # one setting
#
# Each run trains into runs/prompt-results/<setting>/seed-<n> (resumable: rerun the script after an
# interruption) and its result.json is copied to docs/results/<setting>/seed-<n>/result.json, the committed
# run files that scripts/results-table.ts reads. Smoke-test runs (LIMIT or EPOCHS set) go to
# runs/prompt-smoke and are never copied into docs/results. Runs that fail are listed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

SEEDS=${SEEDS:-"1 2 3"}
JOBS=${JOBS:-2}
ENGINE=${ENGINE:-auto}
EXTRA=()
[ -n "${EPOCHS:-}" ] && EXTRA+=(--epochs "$EPOCHS")
[ -n "${LIMIT:-}" ] && EXTRA+=(--limit "$LIMIT")
[ -n "${EVAL_LIMIT:-}" ] && EXTRA+=(--eval-limit "$EVAL_LIMIT")
if [ ${#EXTRA[@]} -gt 0 ]; then RUNS=runs/prompt-smoke; PUBLISH=0; else RUNS=runs/prompt-results; PUBLISH=1; fi

# setting name | ltl train flags (seed, out, engine and the smoke-test flags are added)
SETTINGS=$(cat <<'EOF'
hard-vanilla|--dataset decoymnist-hard --method vanilla --attention-epoch 0 --prompt "a digit"
hard-rrr-annotation|--dataset decoymnist-hard --method rrr --rrr-mode spatial --attention-epoch 0 --prompt "a digit"
hard-rrr-prompt|--dataset decoymnist-hard --method rrr --rrr-mode prompt --maps embedded --prompt "a digit" --attention-epoch 0 --select val-rr
hard-rrr-prompt-negative|--dataset decoymnist-hard --method rrr --rrr-mode prompt --maps embedded --prompt "a digit" --negative-prompt "a square" --attention-epoch 0 --select val-rr
hard-rrr-prompt-uniform|--dataset decoymnist-hard --method rrr --rrr-mode prompt --maps uniform --prompt "a digit" --negative-prompt "a square" --attention-epoch 0 --select val-rr
hard-align-embedded|--dataset decoymnist-hard --method align --maps embedded --prompt "a digit"
color-vanilla|--dataset colormnist --method vanilla --attention-epoch 0 --attribute-prompt "colour of a digit"
color-rrr-colour-annotation|--dataset colormnist --method rrr --rrr-mode colour --lambda 1 --attention-epoch 0 --attribute-prompt "colour of a digit"
color-rrr-attribute|--dataset colormnist --method rrr --rrr-mode prompt --attribute-prompt "colour of a digit" --lambda 1 --attention-epoch 0 --select val-rr
color-rrr-attribute-free-axis|--dataset colormnist --method rrr --rrr-mode prompt --attribute-prompt "colour of a digit" --attribute-form free-axis --lambda 1 --attention-epoch 0 --select val-rr
EOF
)

LTL=${LTL:-"node bin/ltl.js"}
[ "$LTL" != "node bin/ltl.js" ] || [ -f dist/lib/cli/main.js ] || npm run build --silent

jobs_file=$(mktemp)
trap 'rm -f "$jobs_file"' EXIT
while IFS='|' read -r name flags; do
  [ -z "$name" ] && continue
  if [ -n "${ONLY:-}" ] && [ "$name" != "$ONLY" ]; then continue; fi
  for s in $SEEDS; do
    echo "$name|$s|$flags" >> "$jobs_file"
  done
done <<< "$SETTINGS"

run_one() {
  local line=$1 name seed flags out
  name=${line%%|*}; line=${line#*|}; seed=${line%%|*}; flags=${line#*|}
  out="$RUNS/$name/seed-$seed"
  mkdir -p "$RUNS/$name"
  # shellcheck disable=SC2086
  if eval "$LTL train $flags --seed $seed --engine $ENGINE ${EXTRA[*]:-} --no-progress --out $out" > "$RUNS/$name/seed-$seed.log" 2>&1; then
    if [ "$PUBLISH" = 1 ]; then
      mkdir -p "docs/results/$name/seed-$seed"
      cp "$out/result.json" "docs/results/$name/seed-$seed/result.json"
    fi
    echo "done   $name seed $seed"
  else
    echo "FAILED $name seed $seed (see $RUNS/$name/seed-$seed.log)"
  fi
}
export -f run_one
export RUNS PUBLISH LTL ENGINE
export EXTRA_STR="${EXTRA[*]:-}"

# xargs runs JOBS at a time; EXTRA travels as a string (arrays do not export)
tr '\n' '\0' < "$jobs_file" | xargs -0 -P "$JOBS" -I{} bash -c 'EXTRA=($EXTRA_STR); run_one "$1"' _ {}

if [ "$PUBLISH" = 1 ]; then node --import tsx scripts/results-table.ts; fi
