#!/usr/bin/env bash
# Gradescope runs this once, as root and with network access, when it builds the autograder image;
# the package's files are in /autograder/source. Written by `grade gradescope`.
set -euo pipefail

ROOT="${AUTOGRADER_ROOT:-/autograder}"
PY="${GRADER_PYTHON:-python3}"
# Gradescope has no GPU: the CPU wheels are a tenth of the size. Empty TORCH_INDEX_URL for PyPI's.
TORCH_INDEX_URL="${TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}"

if ! "$PY" -m pip --version >/dev/null 2>&1; then
  apt-get update && apt-get install -y --no-install-recommends python3-pip python3-venv
fi
"$PY" -m pip install --no-cache-dir --upgrade pip
"$PY" -m pip install --no-cache-dir torch==@TORCH_VERSION@ torchvision==@TORCHVISION_VERSION@ \
  ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
"$PY" -m pip install --no-cache-dir "$ROOT/source"

# The instructor's own steps (datasets, pretrained weights...), if the package has them.
if [ -f "$ROOT/source/setup_extra.sh" ]; then
  bash "$ROOT/source/setup_extra.sh"
fi

# Run the reference solution once here, in the image every submission will be graded in, so
# each submission finds the reference results cached instead of training the reference again.
cd "$ROOT/source"
"$PY" -m graders.autograder warm --root "$ROOT"
