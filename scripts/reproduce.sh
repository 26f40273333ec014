#!/usr/bin/env bash
# npm run reproduce: executes every notebook headless with the tslab kernel and writes reports/.
#   LTL_PROFILE=quick|standard|paper   (default standard)
#   LTL_REPORTS_DIR=dir                (default reports/)
#   LTL_NOTEBOOKS=00,01                (run only these prefixes)
#   LTL_SKIP_BUILD=1                   (dist/ is already fresh)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup-notebooks.sh
export JUPYTER_PATH="$ROOT/.ltl-jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
export JUPYTER_DATA_DIR="$ROOT/.ltl-jupyter"
export JUPYTER_CONFIG_DIR="$ROOT/.ltl-jupyter/config"
export JUPYTER_RUNTIME_DIR="${JUPYTER_RUNTIME_DIR:-$ROOT/.ltl-jupyter/runtime}"
export PYDEVD_DISABLE_FILE_VALIDATION=1
export LTL_PROFILE="${LTL_PROFILE:-standard}"
OUT="${LTL_REPORTS_DIR:-$ROOT/reports}"
# Debian's Jupyter stack, not a pyenv python that lacks nbclient.
exec /usr/bin/python3 -Xfrozen_modules=off scripts/run_notebooks.py --notebooks notebooks --out "$OUT" "$@"
