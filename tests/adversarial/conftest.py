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
import yaml

from graders.config import Config, load_config
from graders.grading.reference import Reference
from graders.grading.session import GradingOptions, grade_submission
from graders.results import SubmissionResult
from graders.worker import cgroup
from graders.worker.client import UID_BASE, UID_SPAN, kill_uid, live_pids

ROOT = Path(__file__).resolve().parents[2]
TOPIC, FOLDER, MODULE = "linear_regression", "01_linear_regression", "linear_regression.py"
# An image topic for the attacks that need one: held-out images, big requests, train_one_epoch and evaluate.
IMAGE_TOPIC, TRANSFER_TOPIC = "deep_neural_network", "transfer_learning"
LAYOUT = {TOPIC: (FOLDER, MODULE), IMAGE_TOPIC: ("04_deep_neural_network", "deep_neural_network.py"),
          TRANSFER_TOPIC: ("06_transfer_learning", "transfer_learning.py")}
SOLUTIONS = {topic: (ROOT / "solutions" / folder / module).read_text(encoding="utf-8")
             for topic, (folder, module) in LAYOUT.items()}
SOLUTION, IMAGE_SOLUTION, TRANSFER_SOLUTION = SOLUTIONS[TOPIC], SOLUTIONS[IMAGE_TOPIC], SOLUTIONS[TRANSFER_TOPIC]
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
        for folder, _ in LAYOUT.values():
            shutil.copytree(ROOT / part / folder, root / part / folder, ignore=shutil.ignore_patterns("__pycache__"))
        for shared in (ROOT / part).glob("*.py"):  # helpers the topics' tests share (hidden_tests/*.py)
            shutil.copyfile(shared, root / part / shared.name)
    # Only the copied topics: a topic whose folder is missing is a configuration error (issue #13).
    config_text = yaml.safe_load((ROOT / "grading.yaml").read_text(encoding="utf-8"))
    config_text["topics"] = {name: spec for name, spec in config_text["topics"].items() if name in LAYOUT}
    (root / "grading.yaml").write_text(yaml.safe_dump(config_text, sort_keys=False), encoding="utf-8")
    files = {
        "hidden": root / "hidden_tests" / FOLDER / "test_hidden.py",
        "solution": root / "solutions" / FOLDER / MODULE,
        "config": root / "grading.yaml",
        "cache": root / ".grading_cache" / "canary.txt",
        "reports": root / "reports" / "earlier" / "result.json",
        "data": root / "data" / "labels.txt",
        "alice": root / "submissions" / "alice" / FOLDER / MODULE,  # another student's work
        "examples": root / "examples" / "one_bug" / FOLDER / MODULE,  # full solutions with one bug each
    }
    canaries = {what: f"canary-{what}-{secrets.token_hex(6)}" for what in [*files, "git"]}
    for what, path in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        text = path.read_text(encoding="utf-8") if path.exists() else (SOLUTION if what in ("alice", "examples")
                                                                        else "")
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


def patient(config: Config, **limits: float) -> Config:
    """The course copy's config with other limits: image topics train for seconds, more on a busy machine."""
    return dataclasses.replace(config, limits=dataclasses.replace(config.limits, **limits))


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
        self._honest: dict[str, Attack] = {}
        self.honest = self.grade_plain("honest", SOLUTION)  # also fills the reference cache
        self.broken = self.grade_plain("broken", hostile(BROKEN_TRAIN))
        self.baseline_processes = descendants()

    def protection(self, name: str) -> bool:
        """Whether the honest submission's worker had protection `name` in force."""
        return any(p["name"] == name and p["active"] for p in self.honest.result.environment.protections)

    def grade_plain(self, name: str, source: str, files: dict[str, str] | None = None, *,
                    config: Config | None = None, topic: str = TOPIC) -> Attack:
        """Grade without the invariant checks (for tests that check something else, or more precisely)."""
        folder = write_submission(self.course.submissions / name, source, files, topic=topic)
        return self._grade(folder, config or self.config_for(topic), topic=topic)

    def config_for(self, topic: str) -> Config:
        """Topic 1's short limits keep hanging attacks cheap; an image topic trains for seconds (more when busy)."""
        if topic == TOPIC:
            return self.course.config
        # VGG16 trains in about 3 GB: the course's own memory limit, not the copy's 2 GB.
        return patient(self.course.config, call_s=60, submission_s=300, memory_mb=6144)

    def honest_of(self, topic: str) -> Attack:
        """The reference solution graded as a submission of `topic` (graded once, on first use)."""
        if topic not in self._honest:
            self._honest[topic] = self.grade_plain(f"honest_{topic}", SOLUTIONS[topic], topic=topic)
            assert self._honest[topic].passed == set(self._honest[topic].checks), self._honest[topic].messages()
        return self._honest[topic]

    def _grade(self, folder: Path, config: Config, deny: tuple[Path, ...] = (), topic: str = TOPIC,
               helper: bool = False) -> Attack:
        start = time.monotonic()
        result = grade_submission(folder, config=config, hidden=True, topics=[topic],
                                  options=GradingOptions(reference=self.reference, deny=deny, helper_worker=helper))
        return Attack(result, worker_uid(result), time.monotonic() - start)

    def attack(self, name: str, source: str, *, files: dict[str, str] | None = None, honest_after: bool = False,
               as_batch: bool = False, config: Config | None = None, topic: str = TOPIC,
               status: str = "graded", helper: bool = False) -> Attack:
        """Grade a hostile submission of `topic`; assert the invariants every attack must keep.

        `as_batch` grades it as `grade batch` does, with the folder of all submissions denied to the worker;
        `config` replaces the course copy's (other limits); `status` is the result's expected status ("timed out"
        for an attack that outlasts the submission's time limit); `helper` grades with a second worker, as a topic
        graded alone is.
        """
        folder = write_submission(self.course.submissions / name, source, files, topic=topic)
        before = snapshot(self.course.root)
        shared = [Path(d) for d in SHARED_DIRS if Path(d).is_dir()]
        shared_before = set(top_level(shared))
        workers_before = set(worker_processes())
        attack = None
        try:
            attack = self._grade(folder, config or self.config_for(topic),
                                 deny=(self.course.submissions,) if as_batch else (), topic=topic, helper=helper)
            check_result(attack, set(self.course.config.topics[topic].checks), status=status)
            text = json.dumps(attack.result.to_dict())
            leaked = [what for what, canary in self.course.canaries.items() if canary in text]
            assert not leaked, f"planted secrets reached the result: {leaked}"
            assert attack.uid is not None, "the worker reported no uid of its own (is the 'user' protection off?)"
            # Every start of a worker has a uid of its own: none of them may keep a process.
            assert wait_until(lambda: not self._strays(workers_before)), \
                f"processes of the worker's uids outlived the grading: {self._strays(workers_before)}"
            assert wait_until(lambda: new_descendants(self.baseline_processes) == set()), \
                f"the grading process kept new descendants: {new_descendants(self.baseline_processes)}"
            after = snapshot(self.course.root)
            # The grader itself may add reference results to its cache (a topic's first grading); nothing else.
            cache = str(self.course.root / ".grading_cache" / "reference") + os.sep
            changed = [path for path in diff(before, after) if path in before or not path.startswith(cache)]
            assert not changed, f"files changed outside the worker: {changed}"
            left = sorted(p for p, owner in top_level(shared).items()
                          if is_worker_uid(owner) and p not in shared_before)
            assert not left, f"the worker's uid left files behind: {left}"
            assert not sysv_segments(attack.uid), "the worker's uid left System V shared memory behind"
            assert not leftover_cgroup(attack.uid), f"the worker's cgroup outlived it: {leftover_cgroup(attack.uid)}"
        finally:
            for _ in range(100):  # the test's own clean-up, whatever the grader did
                stray = self._strays(workers_before)
                if not stray:
                    break
                for uid in {owner for _, owner in stray}:
                    kill_uid(uid)
        if honest_after:
            again = self.grade_plain("honest", SOLUTIONS[topic], topic=topic)
            honest = self.honest if topic == TOPIC else self.honest_of(topic)
            assert verdicts(again) == verdicts(honest), "an honest submission graded afterwards scores differently"
        return attack


    def _strays(self, before: set[tuple[int, int]]) -> set[tuple[int, int]]:
        """Processes under a worker's uid that appeared during a grading and are still alive, but the reference's
        worker, which lives on across gradings."""
        runner = getattr(self.reference, "_runner", None)
        reference_uid = runner.worker.uid if runner is not None else None
        return {(pid, uid) for pid, uid in set(worker_processes()) - before if uid != reference_uid}


def write_submission(folder: Path, source: str, files: dict[str, str] | None = None, *, topic: str = TOPIC) -> Path:
    """A submission folder in the assignment's layout: <folder>/01_linear_regression/linear_regression.py."""
    topic_folder, module = LAYOUT[topic]
    shutil.rmtree(folder, ignore_errors=True)
    (folder / topic_folder).mkdir(parents=True)
    (folder / topic_folder / module).write_text(source, encoding="utf-8")
    for name, text in (files or {}).items():
        (folder / topic_folder / name).write_text(text, encoding="utf-8")
    return folder


def check_result(attack: Attack, configured: set[str], *, status: str = "graded") -> None:
    """The grader went on: a result with every configured check scored, each failure with a reason."""
    result = attack.result
    assert result.status == status, (result.status, result.reason)
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


def is_worker_uid(uid: int) -> bool:
    """The range graders/worker/client.py draws workers' uids from."""
    return UID_BASE <= uid < UID_BASE + UID_SPAN


def worker_processes() -> list[tuple[int, int]]:
    """(pid, uid) of every live process running under a worker's uid, whichever start of a worker it was, and
    started by this test session (another session's graders on the same machine are none of its business)."""
    found = []
    own = _memory_cgroup("self")
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = dict(line.split(":", 1) for line in (entry / "status").read_text().splitlines() if ":" in line)
                uid = int(fields["Uid"].split()[0])
                if is_worker_uid(uid) and not fields["State"].strip().startswith("Z") and _below(own, entry.name):
                    found.append((int(entry.name), uid))
            except (OSError, ValueError, KeyError, IndexError):
                continue  # it ended meanwhile
    return found


def _memory_cgroup(pid: str) -> str | None:
    """The memory cgroup of a process (cgroup v1's memory line, else v2's unified one), None where there is none."""
    lines = [line.split(":", 2) for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()]
    paths = {name: path for _, names, path in lines for name in names.split(",")}
    return paths.get("memory", paths.get(""))


def _below(own: str | None, pid: str) -> bool:
    """Whether a process lives in this session's memory cgroup or one below it, where our graders put workers (a
    worker cannot leave its group); every process counts where cgroups tell nothing."""
    if own is None:
        return True
    theirs = _memory_cgroup(pid)
    return theirs is None or theirs == own or theirs.startswith(own.rstrip("/") + "/")


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
    # The reference is trusted and trains VGG16 too: the course's own limits, not the short ones of the copy.
    reference = Reference(patient(course.config, call_s=120, submission_s=900, memory_mb=6144))
    try:
        grader = Grader(course, reference)
        assert grader.honest.passed == set(grader.honest.checks), grader.honest.messages()
        yield grader
    finally:
        reference.close()
