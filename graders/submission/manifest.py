"""A packed submission's MANIFEST.json: written by `grade pack`, checked when the submission is opened."""

from __future__ import annotations

import hashlib
import json
import platform
import zipfile
import zlib
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

import graders
from graders.config import Config

MANIFEST = "MANIFEST.json"
MANIFEST_FORMAT = 1


def build_manifest(contents: dict[str, bytes], *, config: Config, topics: list[str], skipped: list[str]) -> bytes:
    """MANIFEST.json: every file with its sha256, and the versions it was packed with."""
    data = {
        "format": MANIFEST_FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "course": config.course,
        "topics": topics,
        "harness_version": graders.__version__,
        "torch_version": _version("torch"),
        "python": platform.python_version(),
        "files": [{"path": rel, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                  for rel, data in sorted(contents.items())],
        "skipped": skipped,
    }
    return (json.dumps(data, indent=2) + "\n").encode("utf-8")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


_IGNORED_EXTRAS = ("__pycache__", ".ipynb_checkpoints", "__MACOSX", ".DS_Store")
MAX_PROBLEMS = 10  # beyond this the list says "and N more": one changed folder is one story


def verify_manifest(folder: str | Path) -> list[str]:
    """Ways the files of a packed submission (a folder or the .zip itself) differ from its MANIFEST.json:
    changed, missing or added files. No manifest (not packed with `grade pack`) is not a problem."""
    try:
        files = _read_zip(Path(folder)) if Path(folder).suffix == ".zip" else _read_folder(Path(folder))
        return _differences(files)
    except (OSError, zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, zlib.error) as exc:
        return [f"{MANIFEST} could not be checked: {exc}"]


def _differences(files: dict[str, Any]) -> list[str]:
    if MANIFEST not in files:
        return []
    try:
        listed = _listed(json.loads(files.pop(MANIFEST)()))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return [f"{MANIFEST} is not a manifest written by `grade pack` ({type(exc).__name__}: {exc})"]
    problems = []
    for rel, digest in sorted(listed.items()):
        if rel not in files:
            problems.append(f"{rel} is listed in {MANIFEST} but missing")
        elif hashlib.sha256(files[rel]()).hexdigest() != digest:
            problems.append(f"{rel} changed after `grade pack` (its sha256 differs from {MANIFEST})")
    for rel in sorted(set(files) - set(listed)):
        if not any(part in _IGNORED_EXTRAS for part in PurePosixPath(rel).parts):
            problems.append(f"{rel} is not in {MANIFEST} (added after `grade pack`)")
    if len(problems) > MAX_PROBLEMS:
        problems = [*problems[:MAX_PROBLEMS], f"and {len(problems) - MAX_PROBLEMS} more differences"]
    return problems


def _listed(data: Any) -> dict[str, str]:
    if data.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"format {data.get('format')!r}, expected {MANIFEST_FORMAT}")
    listed = {}
    for entry in data["files"]:
        rel, digest = str(entry["path"]), str(entry["sha256"])
        parts = PurePosixPath(rel).parts
        if rel.startswith("/") or ".." in parts or not parts:
            raise ValueError(f"unsafe path {rel!r}")
        listed[rel] = digest
    return listed


def _read_folder(folder: Path) -> dict[str, Any]:
    """rel path -> a function returning the bytes (files are read only when compared)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def _read_zip(archive: Path) -> dict[str, Any]:
    """Members by path below the manifest's folder, each read only when asked (most zips have no manifest)."""
    with zipfile.ZipFile(archive) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
    base = next((n[: -len(MANIFEST)] for n in sorted(names, key=len) if n.endswith(MANIFEST)), "")
    return {n[len(base):]: (lambda n=n: _member(archive, n)) for n in names if n.startswith(base)}


def _member(archive: Path, name: str) -> bytes:
    with zipfile.ZipFile(archive) as zf:
        return zf.read(name)
