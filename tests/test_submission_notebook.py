"""Notebooks reduce to their definitions; training loops, downloads and magics never run."""

import json
import warnings

import nbformat
import pytest

from graders.errors import SubmissionError
from graders.submission.notebook import notebook_to_module, read_notebook


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


HAND_WRITTEN = {  # as written by hand or an older tool: nbformat 4.5 requires cell ids, these have none
    "nbformat": 4, "nbformat_minor": 5, "metadata": {},
    "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "# Topic 1"},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": ["import torch\n", "\n", "def predict(model, x):\n", "    return model(x)\n"]},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "id": "same",
         "source": "SIZE = 3"},
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "id": "same",
         "source": "class Net:\n    pass"},
    ],
}


@pytest.mark.parametrize("minor", [5, 4])
def test_a_notebook_without_cell_ids_is_read_without_a_word(tmp_path, caplog, capfd, minor):
    # Issue #13: nbformat printed MissingIDFieldWarning (and schema complaints) to the student for such notebooks.
    path = tmp_path / "hand.ipynb"
    cells = HAND_WRITTEN["cells"] if minor == 5 else [{k: v for k, v in c.items() if k != "id"}
                                                       for c in HAND_WRITTEN["cells"]]
    path.write_text(json.dumps({**HAND_WRITTEN, "nbformat_minor": minor, "cells": cells}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        source, skipped = notebook_to_module(path)
        nb = read_notebook(path)
    assert caught == [] and caplog.records == [] and capfd.readouterr() == ("", "")
    assert source == "import torch\n\ndef predict(model, x):\n    return model(x)\n\nSIZE = 3\n\nclass Net:\n    pass\n"
    assert skipped == []
    ids = [cell.get("id") for cell in nb.cells]
    assert ids == (["cell-1", "cell-2", "same", "cell-3"] if minor == 5 else [None] * 4)
    nbformat.validate(nb)  # what the ids are for: the notebook is now valid 4.5
