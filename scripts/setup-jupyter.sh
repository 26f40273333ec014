#!/usr/bin/env bash
# The project's Python environment for the notebooks, in .venv/ (git-ignored; nothing global):
# JupyterLab 4, papermill and plotly's JupyterLab renderer, every package pinned in
# scripts/requirements-jupyter.txt; the papermill translator for TypeScript notebooks
# (scripts/papermill-tslab); and the tslab kernel spec inside the venv (scripts/setup-notebooks.sh).
# Called by scripts/setup.sh after `npm ci`. Needs Debian's python3-venv (setup.sh installs it) and PyPI.
# Idempotent: pip runs only when the pins changed since the last install (stamp in .venv/).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
REQ="$ROOT/scripts/requirements-jupyter.txt"
PKG="$ROOT/scripts/papermill-tslab"
t0=$(date +%s)

# Debian's interpreter, never a pyenv or conda one on the PATH: the pins were resolved for CPython 3.11.
PY=/usr/bin/python3
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "[setup-jupyter] creating $VENV ($("$PY" --version))" >&2
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
fi

stamp="$VENV/.ltl-requirements.sha256"
want="$(cat "$REQ" "$PKG/pyproject.toml" "$PKG"/ltl_papermill_tslab/*.py | sha256sum | cut -d' ' -f1)"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "[setup-jupyter] pip install -r scripts/requirements-jupyter.txt" >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$REQ"
  # The translator package: built with the pinned setuptools (no isolated build that would fetch
  # another), then its build leftovers removed from the source tree.
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --no-deps --no-build-isolation --force-reinstall "$PKG"
  rm -rf "$PKG/build" "$PKG"/*.egg-info
  echo "$want" > "$stamp"
fi

LTL_SKIP_BUILD="${LTL_SKIP_BUILD:-1}" bash scripts/setup-notebooks.sh
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
import sys
from papermill.translators import papermill_translators
t = papermill_translators.find_translator('tslab', 'typescript')
print('[setup-jupyter] ' + ', '.join(f"{p} {md.version(p)}" for p in ('jupyterlab', 'papermill', 'plotly', 'nbclient'))
      + f'; papermill translator for tslab: {t.__name__}', file=sys.stderr)
PY
echo "[setup-jupyter] ready in $(( $(date +%s) - t0 )) s: npm run lab | npm run papermill -- IN OUT -p profileName quick" >&2
