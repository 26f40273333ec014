# Sourced by scripts/reproduce.sh, lab.sh and papermill.sh: Jupyter's config, data (kernel specs, trust
# database, lab workspaces and settings) and runtime files go to the project's .ltl-jupyter/, never to
# ~/.jupyter or ~/.local/share/jupyter. Expects ROOT to be the repository root.
export JUPYTER_PATH="$ROOT/.ltl-jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
export JUPYTER_DATA_DIR="$ROOT/.ltl-jupyter"
export JUPYTER_CONFIG_DIR="$ROOT/.ltl-jupyter/config"
export JUPYTER_RUNTIME_DIR="${JUPYTER_RUNTIME_DIR:-$ROOT/.ltl-jupyter/runtime}"
export IPYTHONDIR="${IPYTHONDIR:-$ROOT/.ltl-jupyter/ipython}"
export PYDEVD_DISABLE_FILE_VALIDATION=1
