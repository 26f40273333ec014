#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine with Node 20:
# Debian packages (Jupyter's nbconvert/nbclient, Chromium, python3-onnx for the CLIPSeg test fixture,
# Fashion-MNIST, python3-venv), then the npm dependencies (which also builds dist/ via the `prepare`
# script), then the project's Python environment .venv/ from PyPI (JupyterLab 4, papermill, plotly's
# JupyterLab renderer, all pinned; the tslab kernel inside it): scripts/setup-jupyter.sh.
# Pass --with-torch to add PyTorch (only for `npm run bench -- --torch` and the reference runs).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
pkgs=(jupyter-nbconvert python3-nbclient jupyter-client python3-ipykernel python3-ipython jupyter-notebook
      chromium python3-onnx python3-numpy dataset-fashion-mnist python3-venv)
if [ "${1:-}" = "--with-torch" ]; then pkgs+=(python3-torch); fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# onnxruntime-node would otherwise fetch CUDA files from outside the npm registry (its 1.21 install script reads
# ONNXRUNTIME_NODE_INSTALL_CUDA, newer ones ONNXRUNTIME_NODE_INSTALL; it tries whenever nvcc is on the PATH).
export ONNXRUNTIME_NODE_INSTALL=skip ONNXRUNTIME_NODE_INSTALL_CUDA=skip
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi

bash scripts/setup-jupyter.sh
