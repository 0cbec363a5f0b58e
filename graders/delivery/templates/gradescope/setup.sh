#!/usr/bin/env bash
# Gradescope runs this once, as root and with network access, when it builds the autograder image;
# the package's files are in /autograder/source. Written by `grade gradescope`.
#   AUTOGRADER_ROOT  stands in for /autograder (to try the package locally)
#   AUTOGRADER_VENV  the virtual environment everything goes into, and run_autograder grades with
#                    (default $AUTOGRADER_ROOT/venv)
#   GRADER_PYTHON    the Python that makes the virtual environment (default python3)
#   TORCH_INDEX_URL  where torch comes from (default the CPU wheels; empty for pip's own indexes)
set -euo pipefail

ROOT="${AUTOGRADER_ROOT:-/autograder}"
VENV="${AUTOGRADER_VENV:-$ROOT/venv}"
PY="${GRADER_PYTHON:-python3}"
# Gradescope has no GPU: the CPU wheels are a tenth of the size. Empty TORCH_INDEX_URL for PyPI's.
TORCH_INDEX_URL="${TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}"

# A virtual environment, not the system Python: Debian 12 and Ubuntu 24.04 mark theirs externally
# managed (PEP 668), and pip refuses to install into it (issue #13). One already there is kept, so
# running this script again works.
venv_ready() { "$VENV/bin/python" -m pip --version >/dev/null 2>&1; }
if ! venv_ready; then
  # Debian and Ubuntu ship venv's pip bootstrap (ensurepip) apart, in python3-venv.
  if ! "$PY" -m venv "$VENV" || ! venv_ready; then
    apt-get update && apt-get install -y --no-install-recommends python3-venv
    "$PY" -m venv "$VENV"
  fi
fi
VPY="$VENV/bin/python"

"$VPY" -m pip install --no-cache-dir --upgrade pip
"$VPY" -m pip install --no-cache-dir torch==@TORCH_VERSION@ torchvision==@TORCHVISION_VERSION@ \
  ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
"$VPY" -m pip install --no-cache-dir "$ROOT/source"

# The instructor's own steps (datasets, pretrained weights...), if the package has them; the
# virtual environment comes first on their PATH, so their `python` and `pip` are its.
if [ -f "$ROOT/source/setup_extra.sh" ]; then
  PATH="$VENV/bin:$PATH" VIRTUAL_ENV="$VENV" bash "$ROOT/source/setup_extra.sh"
fi

# Run the reference solution once here, in the image every submission will be graded in, so
# each submission finds the reference results cached instead of training the reference again.
cd "$ROOT/source"
"$VPY" -m graders.delivery.autograder warm --root "$ROOT"
