#!/usr/bin/env bash
# Prepares the notebooks to run: builds dist/, makes the package importable by name from notebooks/,
# and installs the tslab kernel spec into a PROJECT-LOCAL Jupyter data dir (.ltl-jupyter) and into the
# project's .venv when it exists, so nothing is written to ~/.local/share/jupyter. Idempotent; safe to run before every reproduce.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [[ "${LTL_SKIP_BUILD:-0}" != "1" ]]; then
  echo "[setup] npm run build" >&2
  npm run build --silent >&2
fi

# tslab compiles each notebook with Node10 resolution and cannot import files outside the notebook's
# folder tree by relative path, so notebooks import the library by its package name through this link.
mkdir -p notebooks/node_modules
ln -sfn ../.. notebooks/node_modules/learning-to-look

# The kernel launcher checks that node_modules has the tslab it was written for (a clear error now,
# not a kernel that fails to start later).
"$(command -v node)" scripts/tslab-kernel/kernel.js --check >&2

# The same kernel spec in two places: the project-local Jupyter data dir (Debian's nbclient and classic
# notebook, through JUPYTER_PATH) and, when scripts/setup-jupyter.sh made it, the project's virtual
# environment (its JupyterLab and papermill find kernels under sys.prefix/share/jupyter).
NODE_BIN="$(command -v node)"
KDIRS=("$ROOT/.ltl-jupyter/kernels/tslab")
if [[ -x "$ROOT/.venv/bin/python" ]]; then KDIRS+=("$ROOT/.venv/share/jupyter/kernels/tslab"); fi
for KDIR in "${KDIRS[@]}"; do
  mkdir -p "$KDIR"
  # tslab through the project's launcher: it answers from its first request on, and notebooks import
  # 'learning-to-look' whatever folder a client starts it in (scripts/tslab-kernel/kernel.js says how).
  # {connection_file} must be its own argv entry (tslab issue #36).
  cat > "$KDIR/kernel.json" <<JSON
{
  "argv": ["$NODE_BIN", "$ROOT/scripts/tslab-kernel/kernel.js", "--config-path", "{connection_file}"],
  "display_name": "TypeScript (tslab, learning-to-look)",
  "language": "typescript"
}
JSON
  echo "[setup] kernel spec: $KDIR/kernel.json" >&2
done
