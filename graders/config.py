"""grading.yaml loaded into one typed, validated Config; errors name the file, the line and the allowed values."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from graders.errors import ConfigError
from graders.results import Visibility

Device = Literal["auto", "cpu", "cuda"]
Calibrate = Literal["none", "higher_is_better", "lower_is_better"]


def doc(text: str, default: Any = dataclasses.MISSING, *, factory: Any = None, minimum: float | None = None) -> Any:
    """A dataclass field with its documentation next to its default (the docs table is built from these).

    `minimum`: the smallest value the YAML may give (a limit of 0 seconds or negative points is a typo).
    """
    metadata = {"doc": text if minimum is None else f"{text} (at least {minimum:g})", "minimum": minimum}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Limits:
    call_s: float = doc("wall-clock seconds for one call into the worker (one training run)", 120.0, minimum=1)
    submission_s: float = doc("wall-clock seconds for all of one submission's calls", 900.0, minimum=1)
    startup_s: float = doc("seconds the worker may take to start (importing torch)", 120.0, minimum=1)
    cpu_s: int = doc("CPU seconds for the worker process", 1800, minimum=1)
    memory_mb: int = doc("memory the worker may use, in MiB: RLIMIT_DATA, and its memory cgroup where one can be "
                         "made (shared memory included)", 6144, minimum=1)
    processes: int = doc("processes and threads the worker's user may run", 256, minimum=1)
    file_size_mb: int = doc("largest file the worker may write, in MiB", 64, minimum=1)
    open_files: int = doc("file descriptors the worker may hold open", 512, minimum=1)
    message_mb: int = doc("largest answer the grader accepts from the worker, in MiB", 256, minimum=1)


@dataclass(frozen=True)
class CheckConfig:
    points: float = doc("points for passing this check; 0 makes it feedback only (reported, never scored)",
                        minimum=0)
    description: str = doc("one line shown in reports", "")
    visibility: Visibility = doc("who sees the check and when (Gradescope's values)", "visible")
    threshold: float | None = doc("the check's bound (a ratio or margin to the reference, or an absolute)", None)
    show_threshold: bool = doc("show the threshold to students even when the check is not visible", False)
    hint: str = doc("what to look at when the check fails", "")
    calibrate: Calibrate = doc("a reference-relative threshold `grade calibrate` may rewrite, and its direction",
                               "none")


@dataclass(frozen=True)
class TopicConfig:
    folder: str = doc("the topic's folder in assignments/, solutions/ and hidden_tests/; it must exist in "
                      "assignments/ or solutions/, whichever the course folder holds")
    module: str = doc("the student's module file inside the folder")
    title: str = doc("the topic's name in reports", "")
    required: list[str] = doc("names the module must define", factory=list)
    budget: dict[str, float] = doc("training budget passed to tasks (sizes, epochs, lr...)", factory=dict)
    checks: dict[str, CheckConfig] = doc("check name -> points, visibility, threshold", factory=dict)
    variants: dict[str, dict[str, float]] = doc("per-model budget overrides, for a topic with several models",
                                                factory=dict)


@dataclass(frozen=True)
class Config:
    course: str = doc("the course's name in reports", "PyTorch course")
    seed: int = doc("the seed of every task (torch, numpy, random, DataLoader generators)", 0)
    eval_seed: int | None = doc("seed of the generated held-out data; secret: `grade release` leaves it out. "
                                "Unset: derived from solutions/, which students never see", None)
    device: Device = doc("where the worker trains: auto picks cuda when available", "cpu")
    threads: int = doc("torch threads in each worker", 2, minimum=1)
    data_dir: str = doc("datasets in torchvision's layout (MNIST/, cifar-10-batches-py/, hymenoptera_data/)", "data")
    weights_dir: str = doc("torch hub cache holding hub/checkpoints/*.pth ($TORCH_HOME layout)", "~/.cache/torch")
    cache_dir: str = doc("reference results cache", ".grading_cache")
    reports_dir: str = doc("where reports are written", "reports")
    limits: Limits = doc("resource limits of the worker", factory=Limits)
    topics: dict[str, TopicConfig] = doc("topic name -> topic", factory=dict)
    path: Path = field(default=Path("grading.yaml"), compare=False)

    @property
    def root(self) -> Path:
        """The course folder: assignments/, solutions/ and hidden_tests/ live beside grading.yaml."""
        return self.path.resolve().parent

    def resolve(self, value: str) -> Path:
        """A path setting relative to the course folder, with ~ expanded."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.root / path

    def topic(self, name: str) -> TopicConfig:
        if name not in self.topics:
            raise ConfigError(f"{self.path}: no topic {name!r}; topics are: {', '.join(self.topics)}")
        return self.topics[name]

    def select(self, topics: Iterable[str] | None = None) -> list[str]:
        """The named topics in grading.yaml's order (None or none named: every topic); an unknown name is a
        ConfigError listing the known ones, before anything is graded."""
        chosen = list(topics or ())
        for name in chosen:
            self.topic(name)
        return [t for t in self.topics if not chosen or t in chosen]

    def with_overrides(self, *, device: str | None = None, reports_dir: str | Path | None = None) -> Config:
        """This config with the settings a command line overrides (a batch's --device and --out); None keeps
        grading.yaml's. One place, so the batch and its grading processes apply them alike (and digest alike)."""
        if device and device not in typing.get_args(Device):
            raise ConfigError(f"device {device!r}: choose one of {', '.join(typing.get_args(Device))}")
        changes: dict[str, str] = {"device": device} if device else {}
        if reports_dir:
            changes["reports_dir"] = str(reports_dir)
        return dataclasses.replace(self, **changes) if changes else self  # type: ignore[arg-type]

    def topic_by_folder(self, folder: str) -> str | None:
        return next((name for name, t in self.topics.items() if t.folder == folder), None)

    def eval_seed_for(self, topic: str) -> int:
        """The held-out data's seed: unknown to student code, so its labels cannot be regenerated in a worker."""
        secret = str(self.eval_seed) if self.eval_seed is not None else _solutions_hash(self.root)
        return int(hashlib.sha256(f"{secret}|{topic}".encode()).hexdigest()[:8], 16)

    def digest(self) -> str:
        """A hash of everything that changes what a task computes (part of the reference cache key)."""
        data = dataclasses.asdict(self)
        for key in ("path", "reports_dir", "cache_dir", "course"):
            data.pop(key)
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _solutions_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted((root / "solutions").rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


# libyaml's parser where PyYAML was built with it: 4 ms for the course's grading.yaml instead of 45 (issue #14).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_config(path: str | Path = "grading.yaml") -> Config:
    """Read and validate grading.yaml; every problem becomes a ConfigError naming file and line."""
    path = _find(Path(path))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found; run from the course folder or pass --config PATH") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if node is None:
        raise ConfigError(f"{path}: empty file; see the README for the layout of grading.yaml")
    config = _build(Config, node, _Where(path, ()))
    if not config.topics:
        raise ConfigError(f"{path}: no topics; add a 'topics:' mapping")
    config = dataclasses.replace(config, path=path)
    _check_folders(config, node)
    return config


def _find(path: Path) -> Path:
    """A bare file name is looked for in the current folder, then in its parents (as git finds .git),
    so `grade check` works from inside a topic's folder and a notebook finds its course."""
    if path.is_absolute() or len(path.parts) != 1 or path.exists():
        return path
    for folder in Path.cwd().parents:
        if (folder / path).is_file():
            return folder / path
    return path


def _check_folders(config: Config, node: yaml.Node) -> None:
    """Each topic's folder exists in assignments/ or solutions/, whichever the course folder holds: a misspelt
    folder graded every submission "not submitted" and still exited 0 (issue #13). One of the two is enough:
    `grade generate` writes a new topic's assignments/ from solutions/, a release has no solutions/, and
    hidden_tests/ may leave a topic out. With neither (a grading.yaml on its own), there is nothing to check."""
    trees = [tree for tree in ("assignments", "solutions") if (config.root / tree).is_dir()]
    for name, topic in config.topics.items():
        if trees and not any((config.root / tree / topic.folder).is_dir() for tree in trees):
            keys = ("topics", name, "folder")
            _Where(config.path, keys).fail(_value_at(node, keys), "no folder " + " or ".join(
                f"{tree}/{topic.folder}" for tree in trees))


def _value_at(node: yaml.Node, keys: tuple[str, ...]) -> yaml.Node:
    """The YAML node at a path of keys that _build has already accepted (the last of duplicate keys, as there)."""
    for key in keys:
        node = [value for k, value in node.value if k.value == key][-1]
    return node


@dataclass(frozen=True)
class _Where:
    path: Path
    keys: tuple[str, ...]

    def child(self, key: str) -> _Where:
        return _Where(self.path, (*self.keys, key))

    def fail(self, node: yaml.Node, problem: str) -> typing.NoReturn:
        key = ".".join(self.keys) or "top level"
        raise ConfigError(f"{self.path}:{node.start_mark.line + 1}: {key}: {problem}")


def _build(cls: type, node: yaml.Node, where: _Where) -> Any:
    if not isinstance(node, yaml.MappingNode):
        where.fail(node, f"expected a mapping of {cls.__name__} settings")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "path"}
    values: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = key_node.value
        if key not in fields:
            where.child(str(key)).fail(key_node, f"unknown key; allowed: {', '.join(fields)}")
        values[key] = _convert(hints[key], value_node, where.child(key))
        low = fields[key].metadata.get("minimum")
        if low is not None and values[key] < low:
            where.child(key).fail(value_node, f"must be at least {low:g}, got {values[key]:g}")
    for name, f in fields.items():
        if name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            where.child(name).fail(node, "required key is missing")
    return cls(**values)


def _convert(hint: Any, node: yaml.Node, where: _Where) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, node, where)  # type: ignore[arg-type]
    if origin is dict:
        if not isinstance(node, yaml.MappingNode):
            where.fail(node, "expected a mapping")
        return {k.value: _convert(args[1], v, where.child(k.value)) for k, v in node.value}
    if origin is list:
        if not isinstance(node, yaml.SequenceNode):
            where.fail(node, "expected a list")
        return [_convert(args[0], item, where) for item in node.value]
    if not isinstance(node, yaml.ScalarNode):
        where.fail(node, f"expected a single value ({_describe(hint)})")
    # The value as yaml.safe_load gives it (int, float, bool, None, str...), from the node itself: no text round trip.
    try:
        value = yaml.constructor.SafeConstructor().construct_object(node)
    except (yaml.YAMLError, ValueError) as exc:  # an unknown tag (!!python/object), a date like 2026-13-45
        where.fail(node, f"cannot read {node.value!r}: {getattr(exc, 'problem', None) or exc}")
    return _scalar(hint, value, node, where)


def _scalar(hint: Any, value: Any, node: yaml.Node, where: _Where) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        if value not in args:
            where.fail(node, f"{value!r} is not allowed; allowed: {', '.join(map(str, args))}")
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return _scalar(next(a for a in args if a is not type(None)), value, node, where)
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
        return value
    where.fail(node, f"expected {_describe(hint)}, got {value!r}")


def _describe(hint: Any) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    return names.get(hint, str(hint))


def reference_markdown() -> str:
    """The documentation of every grading.yaml key, generated from the dataclasses' own descriptions."""
    lines = ["# grading.yaml reference", "", "Generated from `graders/config.py`; do not edit by hand.", ""]
    for cls, where in ((Config, "top level"), (Limits, "limits"), (TopicConfig, "topics.NAME"),
                       (CheckConfig, "topics.NAME.checks.CHECK")):
        lines += [f"## {where}", "", "| key | type | default | meaning |", "|---|---|---|---|"]
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name == "path":
                continue
            default = ("required" if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                       else "" if f.default is dataclasses.MISSING else repr(f.default))
            kind = _describe(hints[f.name]).replace("typing.", "").replace("|", "or")
            lines.append(f"| `{f.name}` | {kind} | {default} | {f.metadata.get('doc', '')} |")
        lines.append("")
    return "\n".join(lines)
