"""Stubs in assignments/ are generated from solutions/ and must stay in sync."""

from pathlib import Path

import pytest

from graders.generate import generate, stub_source

ROOT = Path(__file__).resolve().parents[1]


def test_regions_become_not_implemented_with_their_indentation():
    solution = "def f(x):\n    '''doc'''\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n"
    assert stub_source(solution) == "def f(x):\n    '''doc'''\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"


def test_unbalanced_markers_are_refused():
    with pytest.raises(ValueError, match="unbalanced"):
        stub_source("### BEGIN SOLUTION\nx = 1\n")


def test_assignments_are_in_sync_with_solutions():
    stale = generate(config=ROOT / "grading.yaml", check=True)
    assert stale == [], f"out of sync with solutions/: {stale}; run `grade generate`"
