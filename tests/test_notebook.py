"""Notebooks reduce to their definitions; training loops, downloads and magics never run."""

import nbformat
import pytest

from graders.errors import SubmissionError
from graders.notebook import notebook_to_module


def write_notebook(path, *cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells] + [nbformat.v4.new_markdown_cell("# notes")]
    nbformat.write(nb, str(path))
    return path


def test_definitions_kept_and_top_level_work_skipped(tmp_path):
    path = write_notebook(
        tmp_path / "nb.ipynb",
        "import torch\nfrom torch import nn\n!pip install torch\n%matplotlib inline",
        "LR = 0.1\nSIZES = (1, 2)\nmodel = nn.Linear(1, 1)",
        "@staticmethod\ndef helper(x):\n    return x\n\nclass Net(nn.Module):\n    pass",
        "for epoch in range(10**9):\n    pass\nprint('training done')",
        "def broken(:\n",
    )
    source, skipped = notebook_to_module(path)
    namespace: dict = {}
    exec(compile(source, "nb", "exec"), namespace)
    assert namespace["LR"] == 0.1 and namespace["SIZES"] == (1, 2)
    assert "helper" in namespace and "Net" in namespace and "model" not in namespace
    assert "@staticmethod" in source
    assert any("cell 2 line 3" in s and "assign" in s for s in skipped)
    assert any("cell 4 line 1" in s and "for" in s for s in skipped)
    assert any("cell 5" in s and "syntax error" in s for s in skipped)


@pytest.mark.parametrize("content", [b"", b"{not json", b"\x89PNG\r\n\x1a\n\x00\x00", b'{"cells": 3}'])
def test_broken_notebooks_are_clear_errors(tmp_path, content):
    path = tmp_path / "broken.ipynb"
    path.write_bytes(content)
    with pytest.raises(SubmissionError, match="broken.ipynb: not a readable notebook"):
        notebook_to_module(path)
