"""The adversarial suite's course copy (with planted secrets), hostile-module builder and shared invariants.

Every attack is graded like a real submission (`grade_submission`, hidden tests on, one shared Reference), and
`Grader.attack` then checks what must hold whatever the trick: the grader produced a result with every check
scored, no file outside the worker changed, the worker's uid left no process and no file behind, and the
grading process has no more descendants than before. Tests add what the trick must not have gained.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import secrets
import shutil
import tempfile
import textwrap
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from graders.config import Config, load_config
from graders.grading import grade_submission
from graders.results import SubmissionResult
from graders.runner import Reference
from graders.worker import cgroup
from graders.worker.client import kill_uid, live_pids

ROOT = Path(__file__).resolve().parents[2]
TOPIC, FOLDER, MODULE = "linear_regression", "01_linear_regression", "linear_regression.py"
SOLUTION = (ROOT / "solutions" / FOLDER / MODULE).read_text(encoding="utf-8")
SHARED_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")  # where any uid may create files
TIME_CHECK = "training_time"  # wall-clock ratio: left out of honest-vs-honest comparisons on a busy machine

# Appended to every hostile module: run an action and name its outcome; report outcomes through the one channel
# a worker has to the grader that the tests can read back, the message of a failed task.
PRELUDE = '''

# ---- adversarial test prelude ----
import json as _json


def _attempt(action):
    try:
        value = action()
    except BaseException as exc:  # noqa: BLE001 - the verdict names whatever stopped the attempt
        return type(exc).__name__
    return "ok" if value is None else str(value)[:48]


def _report(**outcome):
    raise RuntimeError("VERDICT" + _json.dumps(outcome, separators=(",", ":")))
'''

# An honest mistake: the loss is computed but no step is ever taken. Tricks layered on it must not earn
# more than it does for the checks they target.
BROKEN_TRAIN = '''
def train(model, x, y, epochs, lr):  # never calls backward() or step(): nothing is learnt
    criterion = nn.MSELoss()
    return [criterion(model(x), y).item() for _ in range(epochs)]
'''


def hostile(*tricks: str, base: str = SOLUTION) -> str:
    """The reference module (or `base`) with the tricks appended: later definitions replace the honest ones."""
    return base + PRELUDE + "\n# ---- the trick ----\n" + "\n".join(textwrap.dedent(t) for t in tricks)


@dataclass
class Course:
    """A copy of topic 1 of the course, world-readable like a shared course folder, with a canary per secret."""

    root: Path
    config: Config
    canaries: dict[str, str]  # what -> secret text planted there
    files: dict[str, Path]  # what -> the file holding it

    @property
    def submissions(self) -> Path:
        return self.root / "submissions"


def build_course(root: Path) -> Course:
    for part in ("assignments", "hidden_tests", "solutions"):
        shutil.copytree(ROOT / part / FOLDER, root / part / FOLDER, ignore=shutil.ignore_patterns("__pycache__"))
        for shared in (ROOT / part).glob("*.py"):  # helpers the topics' tests share (hidden_tests/*.py)
            shutil.copyfile(shared, root / part / shared.name)
    shutil.copyfile(ROOT / "grading.yaml", root / "grading.yaml")
    files = {
        "hidden": root / "hidden_tests" / FOLDER / "test_hidden.py",
        "solution": root / "solutions" / FOLDER / MODULE,
        "config": root / "grading.yaml",
        "cache": root / ".grading_cache" / "canary.txt",
        "reports": root / "reports" / "earlier" / "result.json",
        "data": root / "data" / "labels.txt",
        "alice": root / "submissions" / "alice" / FOLDER / MODULE,  # another student's work
    }
    canaries = {what: f"canary-{what}-{secrets.token_hex(6)}" for what in [*files, "git"]}
    for what, path in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        text = path.read_text(encoding="utf-8") if path.exists() else (SOLUTION if what == "alice" else "")
        path.write_text(text + f"\n# {canaries[what]}\n", encoding="utf-8")
    # The course folder is usually a git repository: its history holds the hidden tests and the solutions.
    blob = f"{files['hidden'].read_text()}\n# {canaries['git']}\n".encode()
    digest = hashlib.sha1(b"blob %d\0" % len(blob) + blob).hexdigest()
    files["git"] = root / ".git" / "objects" / digest[:2] / digest[2:]
    files["git"].parent.mkdir(parents=True)
    files["git"].write_bytes(zlib.compress(b"blob %d\0" % len(blob) + blob))
    config = load_config(root / "grading.yaml")
    # Short limits keep hanging attacks cheap; memory must still cover importing torch (~900 MB).
    limits = dataclasses.replace(config.limits, call_s=3, submission_s=45, memory_mb=2000, processes=48)
    return Course(root, dataclasses.replace(config, limits=limits), canaries, files)


@dataclass
class Attack:
    """One graded hostile submission and what the worker reported about its attempts."""

    result: SubmissionResult
    uid: int | None
    seconds: float

    @property
    def checks(self) -> dict[str, object]:
        return {c.name: c for c in self.result.checks()}

    @property
    def passed(self) -> set[str]:
        return {c.name for c in self.result.checks() if c.passed}

    def points(self, *names: str) -> float:
        return sum(c.points for c in self.result.checks() if not names or c.name in names)

    def message(self, name: str) -> str:
        return self.checks[name].message  # type: ignore[attr-defined]

    def messages(self) -> str:
        return "\n".join(f"{c.name}: {c.message}" for c in self.result.checks())

    def verdict(self) -> dict[str, str]:
        """The outcomes the hostile code reported with _report(...)."""
        for check in self.result.checks():
            if "VERDICT{" in check.message:
                text = check.message.split("VERDICT", 1)[1]
                return json.loads(text[: text.rindex("}") + 1])
        raise AssertionError(f"the hostile code reported no verdict:\n{self.messages()}")


class Grader:
    """Grades submissions of the course copy in this process, checking the invariants around each attack."""

    def __init__(self, course: Course, reference: Reference):
        self.course = course
        self.reference = reference
        self.honest = self.grade_plain("honest", SOLUTION)  # also fills the reference cache
        self.broken = self.grade_plain("broken", hostile(BROKEN_TRAIN))
        self.baseline_processes = descendants()

    def protection(self, name: str) -> bool:
        """Whether the honest submission's worker had protection `name` in force."""
        return any(p["name"] == name and p["active"] for p in self.honest.result.environment.protections)

    def grade_plain(self, name: str, source: str, files: dict[str, str] | None = None, *,
                    config: Config | None = None) -> Attack:
        """Grade without the invariant checks (for tests that check something else, or more precisely)."""
        return self._grade(write_submission(self.course.submissions / name, source, files), config)

    def _grade(self, folder: Path, config: Config | None = None, deny: tuple[Path, ...] = ()) -> Attack:
        start = time.monotonic()
        result = grade_submission(folder, config=config or self.course.config, hidden=True, topics=[TOPIC],
                                  reference=self.reference, deny=deny)
        return Attack(result, worker_uid(result), time.monotonic() - start)

    def attack(self, name: str, source: str, *, files: dict[str, str] | None = None, honest_after: bool = False,
               as_batch: bool = False, config: Config | None = None) -> Attack:
        """Grade a hostile submission; assert the invariants every attack must keep.

        `as_batch` grades it as `grade batch` does, with the folder of all submissions denied to the worker;
        `config` replaces the course copy's (other limits).
        """
        folder = write_submission(self.course.submissions / name, source, files)
        before = snapshot(self.course.root)
        shared = [Path(d) for d in SHARED_DIRS if Path(d).is_dir()]
        shared_before = set(top_level(shared))
        attack = None
        try:
            attack = self._grade(folder, config, deny=(self.course.submissions,) if as_batch else ())
            check_result(attack, set(self.course.config.topics[TOPIC].checks))
            text = json.dumps(attack.result.to_dict())
            leaked = [what for what, canary in self.course.canaries.items() if canary in text]
            assert not leaked, f"planted secrets reached the result: {leaked}"
            assert attack.uid is not None, "the worker reported no uid of its own (is the 'user' protection off?)"
            assert wait_until(lambda: not live_processes(attack.uid)), \
                f"processes of the worker's uid {attack.uid} outlived the grading: {live_processes(attack.uid)}"
            assert wait_until(lambda: new_descendants(self.baseline_processes) == set()), \
                f"the grading process kept new descendants: {new_descendants(self.baseline_processes)}"
            after = snapshot(self.course.root)
            assert after == before, f"files changed outside the worker: {diff(before, after)}"
            left = sorted(p for p, owner in top_level(shared).items() if owner == attack.uid and p not in shared_before)
            assert not left, f"the worker's uid left files behind: {left}"
            assert not sysv_segments(attack.uid), "the worker's uid left System V shared memory behind"
            assert not leftover_cgroup(attack.uid), f"the worker's cgroup outlived it: {leftover_cgroup(attack.uid)}"
        finally:
            if attack is not None and attack.uid is not None:
                for _ in range(100):  # the test's own clean-up, whatever the grader did
                    if not live_processes(attack.uid):
                        break
                    kill_uid(attack.uid)
        if honest_after:
            again = self.grade_plain("honest", SOLUTION)
            assert verdicts(again) == verdicts(self.honest), "an honest submission graded afterwards scores differently"
        return attack


def write_submission(folder: Path, source: str, files: dict[str, str] | None = None) -> Path:
    """A submission folder in the assignment's layout: <folder>/01_linear_regression/linear_regression.py."""
    shutil.rmtree(folder, ignore_errors=True)
    (folder / FOLDER).mkdir(parents=True)
    (folder / FOLDER / MODULE).write_text(source, encoding="utf-8")
    for name, text in (files or {}).items():
        (folder / FOLDER / name).write_text(text, encoding="utf-8")
    return folder


def check_result(attack: Attack, configured: set[str]) -> None:
    """The grader went on: a graded result with every configured check scored, each failure with a reason."""
    result = attack.result
    assert result.status == "graded", (result.status, result.reason)
    assert set(attack.checks) == configured and len(result.checks()) == len(configured), attack.messages()
    assert all(c.passed or c.message for c in result.checks()), attack.messages()


def verdicts(attack: Attack) -> dict[str, bool]:
    return {c.name: c.passed for c in attack.result.checks() if c.name != TIME_CHECK}


def worker_uid(result: SubmissionResult) -> int | None:
    user = next((p for p in result.environment.protections if p.get("name") == "user"), None)
    if not user or not user.get("active"):
        return None
    return int(str(user["detail"]).split()[1].rstrip(","))


def snapshot(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Every path under `folder`: mode, size and a hash of the content (for files)."""
    found = {}
    for top, dirs, names in os.walk(folder):
        for name in dirs + names:
            path = os.path.join(top, name)
            info = os.lstat(path)
            digest = ""
            if os.path.isfile(path) and not os.path.islink(path):
                digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            found[path] = (info.st_mode, info.st_size, digest)
    return found


def diff(before: dict, after: dict) -> list[str]:
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def top_level(folders: list[Path]) -> dict[str, int]:
    """Entries directly in the shared writable folders, with their owner."""
    owners = {}
    for folder in folders:
        for entry in os.scandir(folder):
            try:
                owners[entry.path] = entry.stat(follow_symlinks=False).st_uid
            except FileNotFoundError:
                pass  # gone meanwhile (another test suite's temporary file)
    return owners


def sysv_segments(uid: int) -> list[str]:
    try:
        lines = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    except OSError:
        return []
    return [line for line in lines if line.split()[7] == str(uid)]


def leftover_cgroup(uid: int) -> str | None:
    try:
        above, _ = cgroup.parent()
    except cgroup.CgroupUnavailable:
        return None
    path = above / f"{cgroup.PREFIX}{uid}"
    return str(path) if path.exists() else None


def live_processes(uid: int) -> list[int]:
    """Processes of `uid` that still run (zombies are dead: only their parent's bookkeeping is left)."""
    return live_pids(uid)


def descendants(root: int | None = None) -> set[int]:
    """Live processes below `root` (this process by default): children, grandchildren..."""
    root = root or os.getpid()
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat_line = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat_line[stat_line.rindex(")") + 2 :].split()
            if fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def new_descendants(baseline: set[int]) -> set[int]:
    """Descendants that were not there before, but a fork server the client (re)started: that one is shared by
    every grading of this process, and the workers it forks are still counted."""
    me = os.getpid()
    return {pid for pid in descendants() - baseline if not _is_fork_server(pid, me)}


def _is_fork_server(pid: int, parent: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return False
    return ppid == parent and b"graders.worker.zygote" in cmdline


def wait_until(condition, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    """Processes take a moment to die after SIGKILL; poll instead of sleeping a fixed time."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture(scope="session")
def course() -> Iterator[Course]:
    # Not tmp_path: /tmp/pytest-of-root is mode 700, which would hide the course from the worker's uid by
    # accident. A course folder on a real machine is world-readable; only the sandbox may hide it.
    base = Path(tempfile.mkdtemp(prefix="adversarial-course-"))
    base.chmod(0o755)
    try:
        yield build_course(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def grader(course: Course) -> Iterator[Grader]:
    if os.geteuid() != 0:
        pytest.skip("the adversarial suite runs workers under uids of their own, which needs root (as in CI)")
    reference = Reference(course.config)
    try:
        grader = Grader(course, reference)
        assert grader.honest.passed == set(grader.honest.checks), grader.honest.messages()
        yield grader
    finally:
        reference.close()
