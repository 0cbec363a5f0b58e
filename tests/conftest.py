"""Shared fixtures and options for the harness's own tests."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        help="rewrite golden files under tests/goldens/ from the current output (review the diff!)",
    )


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    """True when the run was asked to rewrite golden files on purpose."""
    return bool(request.config.getoption("--update-goldens"))


@pytest.fixture(autouse=True)
def _no_grading_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """`grade check` grades in-process in the tests, as it did before the server (#14): no test leaves a server
    running behind it. tests/test_server.py lifts this for its own, temporary, servers."""
    monkeypatch.setenv("GRADE_NO_SERVER", "1")
