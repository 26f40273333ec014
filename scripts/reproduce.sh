#!/usr/bin/env bash
# npm run reproduce: executes every notebook headless with the tslab kernel and writes reports/.
#   LTL_PROFILE=quick|standard|paper   (default standard)
#   LTL_REPORTS_DIR=dir                (default reports/)
#   LTL_NOTEBOOKS=00,01                (run only these prefixes)
#   LTL_SKIP_BUILD=1                   (dist/ is already fresh)
#   LTL_ENGINE=papermill|nbclient      (default: papermill with the project's .venv, set up by
#                                       scripts/setup-jupyter.sh; nbclient, or no .venv: Debian's
#                                       python3 with its nbclient/nbconvert, as before the venv)
# With papermill each notebook runs as `papermill NB OUT -p profileName $LTL_PROFILE` would run it
# (the injected parameters cell is in the executed notebook); LTL_PROFILE is exported as well.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup-notebooks.sh
source scripts/jupyter-env.sh
export LTL_PROFILE="${LTL_PROFILE:-standard}"
OUT="${LTL_REPORTS_DIR:-$ROOT/reports}"
# The project's venv (papermill, nbclient, nbconvert 7), else Debian's Jupyter stack; never a pyenv
# python that lacks nbclient.
PY=/usr/bin/python3
if [[ -x "$ROOT/.venv/bin/python" && "${LTL_ENGINE:-auto}" != nbclient ]]; then PY="$ROOT/.venv/bin/python"; fi
exec "$PY" -Xfrozen_modules=off scripts/run_notebooks.py --notebooks notebooks --out "$OUT" "$@"
