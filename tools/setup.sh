#!/usr/bin/env bash
# One-command set-up of neurodeploy on a fresh machine (Python 3.11).
#   bash tools/setup.sh            -> creates .venv and installs everything
# Idempotent: re-running it only re-checks. lava-nc 0.10.0 / lava-dl 0.6.0 declare python<3.11,
# so they are installed with --no-deps --ignore-requires-python and their dependencies are listed
# explicitly; the one 3.11 incompatibility of lava-nc is patched by `python -m neurodeploy.compat`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
$PIP install --quiet --upgrade pip
# torch/torchvision: CUDA builds of these versions are cached locally on this machine type; lava-dl's
# netx imports slayer, which imports torchvision and cv2.
$PIP install --quiet "torch==2.14.1" "torchvision==0.29.1"
$PIP install --quiet "numpy<2" scipy scikit-learn "networkx<=2.8.7" "asteval<0.10" h5py matplotlib \
  "opencv-python-headless<4.11" psutil tqdm numba mnist1d nir pytest ruff
$PIP install --quiet --no-deps --ignore-requires-python "lava-nc==0.10.0" "lava-dl==0.6.0"
$PIP install --quiet --no-deps -e .
"$VENV/bin/python" -m neurodeploy.compat --apply
# Headless Chromium (Debian package) renders the HTML report in the tests; skipped when it is
# already there, when apt-get is unavailable, or with NEURODEPLOY_NO_BROWSER=1.
if [ -z "${NEURODEPLOY_NO_BROWSER:-}" ] && ! command -v chromium >/dev/null 2>&1 \
    && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
echo "neurodeploy installed in $VENV; try: $VENV/bin/neurodeploy doctor"
