"""What the grading server and its twin share: answering one grading request, and the server's log."""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graders.errors import GradingError
from graders.server.client import LOG

if TYPE_CHECKING:
    from graders.config import Config
    from graders.results import SubmissionResult

# The course folders pytest imports test modules from (graders.grading.session.test_files), and hidden tests' helpers.
_COURSE_TESTS = ("assignments", "hidden_tests")


def answer(cwd: str, config_path: str, run: Callable[[Config], SubmissionResult]) -> dict[str, Any]:
    """`run` from the client's folder on the config read afresh, the course's test modules read afresh; its
    result or its error as JSON."""
    try:
        _chdir(cwd)
        from graders.config import load_config

        config = load_config(config_path)
        forget_course_modules(config.root)
        try:
            return {"result": run(config).to_dict()}
        finally:
            forget_course_modules(config.root)
    except GradingError as exc:
        return error(exc)
    except Exception as exc:  # a bug of ours: the traceback goes to the log, the client gets one line
        log(f"a grading failed:\n{traceback.format_exc()}")
        return {"error": {"type": "GradingError", "exit_code": GradingError.exit_code,
                          "message": f"the grading server failed ({type(exc).__name__}: {exc}); see {LOG} "
                                     f"in {Path.cwd()}"}}





def error(exc: GradingError) -> dict[str, Any]:
    return {"error": {"type": type(exc).__name__, "message": str(exc), "exit_code": exc.exit_code}}


def _chdir(folder: str) -> None:
    """The client's folder, for whatever is relative there (`grade submission` sends its path as typed)."""
    try:
        os.chdir(folder)
    except OSError as exc:
        raise GradingError(f"{folder}: {exc.strerror}") from None


def forget_course_modules(root: Path) -> list[str]:
    """Drop the modules imported from the course's test folders, so that the next check reads them afresh.

    pytest's importlib mode reuses a module already in sys.modules (_pytest.pathlib.import_path): without
    this, an edited public test or a hidden tests' helper would run as first loaded for the server's life.
    """
    folders = tuple(f"{root / name}{os.sep}" for name in _COURSE_TESTS)
    names = [name for name, module in list(sys.modules.items()) if _loaded_from(module, folders)]
    for name in names:
        del sys.modules[name]
    return names


def _loaded_from(module: Any, folders: tuple[str, ...]) -> bool:
    try:
        places = [getattr(module, "__file__", None), *(getattr(module, "__path__", None) or [])]
    except Exception:  # a module may answer getattr strangely; it is not one of the course's
        return False
    return any(isinstance(p, str) and (p + os.sep).startswith(folders) for p in places)


LOG_FD = [2]  # a copy of the log's descriptor, taken at start: pytest captures fds 1 and 2 while tests run


def log(text: str) -> None:
    line = f"{datetime.now().isoformat(timespec='seconds')} [{os.getpid()}] {text}\n"
    with contextlib.suppress(OSError):
        os.write(LOG_FD[0], line.encode(errors="replace"))
