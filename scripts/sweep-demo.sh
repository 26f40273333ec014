#!/usr/bin/env bash
# Acceptance demo of `ltl sweep`: 12 tiny real runs on 2 workers, the whole sweep (process group)
# killed with SIGKILL half way, rerun, then the report. Ends with every run done exactly once.
#   bash scripts/sweep-demo.sh [OUT]     (about 2 minutes on 2 cores; needs `npm run build`)
set -eu
cd "$(dirname "$0")/.."
OUT=${1:-reports/sweep-demo}
GRID=scripts/sweep-demo-grid.json
rm -rf "$OUT"
mkdir -p "$OUT"
echo "+ setsid node bin/ltl.js sweep --grid $GRID --out $OUT --workers 2 &"
setsid node bin/ltl.js sweep --grid "$GRID" --out "$OUT" --workers 2 > "$OUT/first.log" 2>&1 &
pid=$!
# Wait until at least 3 runs are done and another has an epoch checkpoint but no result yet.
while :; do
  sleep 1
  done_n=$(find "$OUT/runs" -name result.json 2>/dev/null | wc -l)
  half_n=0
  for d in "$OUT"/runs/*/; do
    [ -f "$d/checkpoint.safetensors" ] && [ ! -f "$d/result.json" ] && half_n=$((half_n + 1))
  done
  if [ "$done_n" -ge 3 ] && [ "$half_n" -ge 1 ]; then break; fi
  kill -0 "$pid" 2>/dev/null || { echo "sweep ended before the kill"; exit 1; }
done
echo "+ kill -KILL -- -$pid    # $done_n runs done, $half_n with a checkpoint but no result"
kill -KILL -- "-$pid"
wait "$pid" 2>/dev/null || true
echo "+ node bin/ltl.js sweep-report $OUT   # after the kill"
node bin/ltl.js sweep-report "$OUT" | head -1
echo "+ node bin/ltl.js sweep --grid $GRID --out $OUT --workers 2"
node bin/ltl.js sweep --grid "$GRID" --out "$OUT" --workers 2 2> "$OUT/second.log"
grep -E 'start|taking over' "$OUT/second.log" || true
echo "+ node bin/ltl.js sweep-report $OUT --csv $OUT/table.csv"
node bin/ltl.js sweep-report "$OUT" --csv "$OUT/table.csv"
# Every run done, each epoch trained exactly once (the trainer's epoch log), resumed runs noted.
node -e '
const fs = require("fs"), path = require("path");
const dir = path.join(process.argv[1], "runs");
let bad = 0, resumed = 0;
for (const id of fs.readdirSync(dir)) {
  const r = JSON.parse(fs.readFileSync(path.join(dir, id, "result.json"), "utf8"));
  const ep = r.epochs.map((e) => e.epoch).join(",");
  const st = JSON.parse(fs.readFileSync(path.join(dir, id, "sweep-state.json"), "utf8"));
  if (ep !== "0,1,2") bad++;
  if (r.resumedAfterEpoch !== null) resumed++;
  console.log(`${id}: epochs ${ep}, attempts ${st.attempts}, resumedAfterEpoch ${r.resumedAfterEpoch}`);
}
console.log(bad ? `${bad} runs with wrong epochs` : `all runs done with epochs 0,1,2; ${resumed} resumed from a checkpoint`);
process.exit(bad ? 1 : 0);
' "$OUT"
