"""The harness as it ships in a copy of the course: its files, its pyproject.toml, and filled templates."""

from __future__ import annotations

import hashlib
import shutil
from importlib import metadata
from pathlib import Path

import graders
from graders.delivery.pack import walk

TEMPLATES = Path(__file__).parent / "templates"
HARNESS = Path(graders.__file__).parent


def copy_harness(target: Path) -> None:
    """The graders package as source files, without caches."""
    for rel, path in harness_files().items():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / rel)


def harness_files() -> dict[str, Path]:
    """The harness's own files (relative path -> file), the same wherever it is installed."""
    return dict(walk(HARNESS))


def harness_digest(folder: Path) -> dict[str, str]:
    return {rel: hashlib.sha256(path.read_bytes()).hexdigest() for rel, path in walk(folder)}


def pyproject_text() -> str:
    """The harness's pyproject.toml, so `pip install .` in a copy installs `grade`; built from the
    installed metadata when the harness was installed from a wheel."""
    source = HARNESS.parent / "pyproject.toml"
    if source.is_file() and 'name = "graders"' in source.read_text(encoding="utf-8"):
        return source.read_text(encoding="utf-8")
    requires = [r for r in metadata.requires("graders") or [] if "extra ==" not in r]
    deps = "".join(f'    "{r}",\n' for r in requires)
    return (f'[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n\n'
            f'[project]\nname = "graders"\nversion = "{graders.__version__}"\nrequires-python = ">=3.10"\n'
            f'dependencies = [\n{deps}]\n\n[project.scripts]\ngrade = "graders.cli:main"\n\n'
            f'[tool.setuptools.packages.find]\ninclude = ["graders*"]\n\n'
            f'[tool.setuptools.package-data]\ngraders = ["**/*.json", "delivery/templates/*/*"]\n')


def render_template(name: str, **values: str) -> str:
    """A file from graders/delivery/templates with @TORCH_VERSION@, @TORCHVISION_VERSION@ (the versions
    installed here, which the reference cache was computed with) and `values` filled in."""
    fills = {"TORCH_VERSION": _public_version("torch"), "TORCHVISION_VERSION": _public_version("torchvision"),
             **values}
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    for key, value in fills.items():
        text = text.replace(f"@{key}@", value)
    return text


def _public_version(package: str) -> str:
    """2.14.1 for 2.14.1+cu130: the local build tag names a wheel index, not a release."""
    try:
        return metadata.version(package).split("+")[0]
    except metadata.PackageNotFoundError:
        return "unknown"
