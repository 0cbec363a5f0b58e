"""The worker's side: lock down, import torch once, then run named tasks on student modules on request."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import signal
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graders.results import Cause


def serve(spec: dict[str, Any]) -> int:
    """Run in a freshly forked worker (graders/worker/zygote.py): lock down, then answer task requests."""
    # Locking down comes before any student code is imported (see docs/sandbox.md); the fork left us
    # with a single thread, which the namespaces need.
    from graders.worker import sandbox

    limits = spec["limits"]
    memory = _enter_cgroup(spec.get("cgroup") or {})  # as root, before the namespaces
    protections = sandbox.lock_down(
        workdir=spec["workdir"],
        deny_paths=spec["deny_paths"],
        memory_mb=limits["memory_mb"],
        cpu_s=limits["cpu_s"],
        processes=limits["processes"],
        file_size_mb=limits["file_size_mb"],
        open_files=limits["open_files"],
        uid=spec["uid"],
        read_paths=spec.get("read_paths", ()),  # checkpoint files, readable beside the workdir and the interpreter
    )
    from graders.worker import seccomp

    protections.append(seccomp.install())  # native code cannot undo lock_down either; before the hook and threads
    _die_with_parent()  # after the uid drop, which clears it
    environment = _setup_torch(spec)
    from graders.worker import tasks
    from graders.worker.protocol import read_message, write_message

    protections += [sandbox.install_audit_hook(deny_paths=spec["deny_paths"]), memory]
    responses = os.fdopen(spec["response_fd"], "wb")
    write_message(responses, {"ready": True, "environment": environment,
                              "protections": [dataclasses.asdict(p) for p in protections]})
    modules: dict[str, ModuleType | BaseException] = {}
    while True:
        request = read_message(spec["request_fd"], deadline=float("inf"), max_bytes=1 << 34)
        if request.get("stop"):
            return 0
        write_message(responses, _handle(request, modules, tasks.TASKS, environment))


def _die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux; a no-op elsewhere).

    A grader killed with SIGKILL cannot clean up: its zygote, and through it every worker, must not
    outlive it. Credential changes clear the setting, so the worker asks after dropping its uid.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _enter_cgroup(group: dict[str, str]) -> Any:
    """Join the memory cgroup the grader made for this worker (graders/worker/cgroup.py): a sandbox.Protection."""
    from graders.worker import cgroup, sandbox

    if "path" not in group:
        return sandbox.Protection("memory_cgroup", False, f"not in force: {group.get('off', 'the grader made none')}")
    try:
        cgroup.join(group["path"])
    except OSError as exc:
        return sandbox.Protection("memory_cgroup", False, f"not in force: cannot join {group['path']}: {exc}")
    return sandbox.Protection("memory_cgroup", True, group["detail"])


def _setup_torch(spec: dict[str, Any]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(spec["threads"])
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = spec["device"]
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return {"torch_version": str(torch.__version__), "device": device, "threads": torch.get_num_threads()}


def _handle(request: dict[str, Any], modules: dict, registry: dict, environment: dict) -> dict[str, Any]:
    task = registry.get(request["task"])
    if task is None:
        # Not "grader": the client believes no worker that blames the harness (a forged frame could say so).
        return _error("error", f"unknown task {request['task']!r}")
    try:
        module = _import(request["module"], modules)
    except SystemExit as exc:
        return _error("not_loaded", f"the module called sys.exit({exc.code!r}) when imported")
    except Exception as exc:  # reported once per topic as "could not be loaded" (issue #12)
        return _error("not_loaded", _describe(exc, request["module"])[1])
    try:
        value = task(module, device=environment["device"], **request["args"])
        return {"ok": True, "value": value}
    except SystemExit as exc:  # sys.exit() in student code ends the task, not the worker
        return _error("error", f"the code called sys.exit({exc.code!r}) instead of returning")
    except Exception as exc:  # student code raised: report it as data, never crash the worker
        return _error(*_describe(exc, request["module"]))


def _import(path: str, modules: dict[str, ModuleType | BaseException]) -> ModuleType:
    """Import a student module once; a failed import is remembered and re-raised for each task."""
    if path not in modules:
        try:
            modules[path] = _load(Path(path))
        except Exception as exc:
            modules[path] = exc
    cached = modules[path]
    if isinstance(cached, BaseException):
        raise cached
    return cached


def _load(path: Path) -> ModuleType:
    # The submission's folder goes last, so a student's torch.py can never shadow the real torch.
    if str(path.parent) not in sys.path:
        sys.path.append(str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path.name}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def _describe(exc: BaseException, module_path: str) -> tuple[Cause, str]:
    """Name the exception and the student's line it came from, without a traceback."""
    from graders.worker.tasks import InvalidOutput, MissingName

    if isinstance(exc, MissingName):
        return "missing", str(exc)
    if isinstance(exc, InvalidOutput):
        return "invalid", str(exc)
    name = Path(module_path).name
    where = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith(name):
            where = f" in {frame.name}() at {name} line {frame.lineno}"
            break
    if isinstance(exc, SyntaxError) and exc.lineno:
        where = f" at {name} line {exc.lineno}"
    if isinstance(exc, NotImplementedError):
        return "not_implemented", f"not implemented yet: NotImplementedError{where}"
    # A SyntaxError's str() repeats the file and line given above: its msg alone.
    raw = (exc.msg if isinstance(exc, SyntaxError) and exc.msg else str(exc)).strip()
    text = raw.splitlines()[0][:300] if raw else ""
    return "error", f"{type(exc).__name__}{where}" + (f": {text}" if text else "")


def _error(kind: Cause, message: str) -> dict[str, Any]:
    return {"ok": False, "error": {"kind": kind, "message": message}}
