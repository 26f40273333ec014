#!/usr/bin/env bash
# npm run papermill -- IN.ipynb OUT.ipynb -p profileName quick [-p name value ...] [papermill options]
# papermill from the project's .venv, where scripts/papermill-tslab registers the TypeScript parameter
# translator (so -p works for the tslab notebooks; plain .venv/bin/papermill works as well, from any
# folder). Starts the kernel in the input notebook's folder, as JupyterLab does (a notebook's relative
# paths are then its folder's), unless --cwd is given. On a failure, prints the failed cell's error:
# tslab reports it on the cell's stderr, which papermill's own message leaves out; and numbers the
# cells that ran.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ ! -x "$ROOT/.venv/bin/papermill" ]]; then
  echo "papermill is not installed in .venv: run 'bash scripts/setup.sh' (or scripts/setup-jupyter.sh)" >&2
  exit 1
fi
source "$ROOT/scripts/jupyter-env.sh"
args=("$@")
notebooks=()
for a in "$@"; do [[ "$a" == *.ipynb ]] && notebooks+=("$a"); done
if [[ " $* " != *" --cwd "* && " $* " != *" --cwd="* && ${#notebooks[@]} -ge 1 && -f "${notebooks[0]}" ]]; then
  args+=(--cwd "$(cd "$(dirname "${notebooks[0]}")" && pwd)")
fi
"$ROOT/.venv/bin/papermill" "${args[@]}"
rc=$?
# papermill's nbclient takes execution counts only from execute_input messages, which tslab does not
# send: number the cells that ran, in order, so the output notebook shows [1], [2], ...
if [[ ${#notebooks[@]} -ge 2 && -f "${notebooks[1]}" ]]; then
  "$ROOT/.venv/bin/python" - "${notebooks[1]}" <<'PY'
import sys, nbformat
nb = nbformat.read(sys.argv[1], as_version=4)
ran = [c for c in nb.cells if c.cell_type == 'code' and c.get('metadata', {}).get('papermill', {}).get('status') in ('completed', 'failed')]
if ran and all(c.get('execution_count') is None for c in ran):
    for i, c in enumerate(ran, 1):
        c['execution_count'] = i
    nbformat.write(nb, sys.argv[1])
PY
fi
if [[ $rc -ne 0 && ${#notebooks[@]} -ge 2 && -f "${notebooks[1]}" ]]; then
  "$ROOT/.venv/bin/python" - "${notebooks[1]}" >&2 <<'PY'
import sys, nbformat
nb = nbformat.read(sys.argv[1], as_version=4)
for i, c in enumerate(nb.cells):
    if c.get('metadata', {}).get('papermill', {}).get('exception'):
        err = ''.join(o.get('text', '') for o in c.get('outputs', []) if o.get('name') == 'stderr')
        print(f"\n--- failed cell (execution {c.get('execution_count')}) ---\n{c.source}\n--- its stderr ---\n{err.strip()}")
PY
fi
exit $rc
