#!/usr/bin/env bash
# npm run lab [-- jupyter-lab options]: JupyterLab 4 from the project's .venv, rooted at the project,
# with the project's tslab kernel ("TypeScript (tslab, learning-to-look)"); Jupyter's own files stay in
# .ltl-jupyter/ (scripts/jupyter-env.sh). Builds dist/ first (LTL_SKIP_BUILD=1 skips that), so the
# notebooks import the current library. Examples:
#   npm run lab                                   # opens the browser at notebooks/
#   npm run lab -- --no-browser --port 8890       # on a remote machine (then an SSH tunnel)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [[ ! -x .venv/bin/jupyter-lab ]]; then
  echo "JupyterLab is not installed in .venv: run 'bash scripts/setup.sh' (or scripts/setup-jupyter.sh)" >&2
  exit 1
fi
bash scripts/setup-notebooks.sh
source scripts/jupyter-env.sh
# No calls home: no news feed, no update check (our machines reach only package registries).
root=(); if [[ "$(id -u)" == 0 ]]; then root=(--allow-root); fi
exec .venv/bin/jupyter-lab "${root[@]}" --ServerApp.root_dir="$ROOT" --ServerApp.ip=127.0.0.1 \
  --ServerApp.default_url=/lab/tree/notebooks --MappingKernelManager.default_kernel_name=tslab \
  --LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate "$@"
