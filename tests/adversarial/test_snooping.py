"""Reading what a worker must never see: hidden tests, solutions, the config, caches, reports, data, other
students' work, the course's git history, the grader's process, the grader's memory of the labels."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from graders.data import toy
from graders.grading.calls import TaskRunner
from tests.adversarial.conftest import BROKEN_TRAIN, ROOT, TRANSFER_SOLUTION, TRANSFER_TOPIC, hostile

READ = """
import hashlib, os

def _fingerprint(data):
    return "read:" + hashlib.sha256(data).hexdigest()[:16] if data else "empty"

def _plain(path):
    with open(path, "rb") as f:
        return _fingerprint(f.read())

def _via_symlink(path):  # a link in the worker's own folder, resolved by the kernel
    link = "link-" + os.path.basename(path)
    if not os.path.lexists(link):
        os.symlink(path, link)
    return _plain(link)

def _via_dir_fd(path):  # a path relative to an open directory carries no absolute path for the hook to check
    root = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    fd = os.open(path.lstrip("/"), os.O_RDONLY, dir_fd=root)
    return _fingerprint(os.read(fd, 1 << 20))

def _listing(path):
    return ",".join(sorted(os.listdir(os.path.dirname(path)))) or "empty"

def _read_everyway(path):
    return {how.__name__.strip("_"): _attempt(lambda: how(path)) for how in (_plain, _via_symlink, _via_dir_fd)}
"""

# The secrets planted in the course copy (tests/adversarial/conftest.py), and what must stop each.
TARGETS = ["hidden", "solution", "config", "cache", "reports", "data", "git", "alice", "alice_in_a_batch",
           "examples"]
WEAK: dict[str, str] = {}  # targets a known weakness still reaches (none now)


def fingerprint(path) -> str:
    data = path.read_bytes()
    return "read:" + hashlib.sha256(data).hexdigest()[:16]


@pytest.mark.parametrize("what", TARGETS + [pytest.param(w, marks=pytest.mark.xfail(strict=True, reason=r))
                                            for w, r in WEAK.items()])
def test_course_secret_cannot_be_read(grader, what):
    batch = what.endswith("_in_a_batch")
    path = grader.course.files[what.removesuffix("_in_a_batch")]
    attack = grader.attack(f"read_{what}", hostile(READ, f"""
        def train(model, x, y, epochs, lr):
            _report(listing=_attempt(lambda: _listing({str(path)!r}))[:40], **_read_everyway({str(path)!r}))
    """), as_batch=batch)
    verdict = attack.verdict()
    secret = fingerprint(path)
    assert secret not in verdict.values(), f"the worker read {path}: {verdict}"
    assert path.name not in verdict["listing"], verdict
    assert "model_structure" in attack.passed  # the rest of the grading went on


def test_the_second_worker_is_locked_down_as_the_first(grader, monkeypatch):
    # A topic graded alone trains its longest model on a second worker (graders/families/prefetch.py): VGG16 here.
    on_helper: list[str] = []
    call = TaskRunner._call

    def spy(self, worker, module, task, args):
        answer = call(self, worker, module, task, args)
        if worker is self.helper:
            on_helper.append(f"{task}: {str(answer[1])[:300]}")
        return answer

    monkeypatch.setattr(TaskRunner, "_call", spy)
    path = grader.course.files["hidden"]
    attack = grader.attack("read_from_the_helper", hostile(READ, f"""
        def build_vgg16(num_classes=2, weights=None):
            _report(**_read_everyway({str(path)!r}))
    """, base=TRANSFER_SOLUTION), topic=TRANSFER_TOPIC, helper=True)
    # Its first call is VGG16's training (then perhaps AlexNet's determinism repeat, which is queued behind it).
    assert on_helper and "VERDICT" in on_helper[0], f"VGG16 was not built on the second worker: {on_helper}"
    verdict = attack.verdict()
    assert fingerprint(path) not in verdict.values(), f"the second worker read {path}: {verdict}"
    assert "alexnet_structure" in attack.passed  # the rest of the grading went on


@pytest.fixture
def other_grading(grader) -> Iterator[Path]:
    """The `--out` folder of another grading, beside the course (as the grader writes it: umask 022, readable)."""
    out = grader.course.root.parent / f"{grader.course.root.name}-out-{secrets.token_hex(4)}"
    (out / "bob").mkdir(parents=True, mode=0o755)
    (out / "bob" / "result.json").write_text(f'{{"score": 86, "canary": "{secrets.token_hex(8)}"}}\n')
    yield out / "bob" / "result.json"
    shutil.rmtree(out, ignore_errors=True)


def test_another_gradings_reports_cannot_be_read(grader, other_grading):
    attack = grader.attack("read_other_out", hostile(READ, f"""
        def train(model, x, y, epochs, lr):
            _report(listing=_attempt(lambda: _listing({str(other_grading)!r}))[:40],
                    **_read_everyway({str(other_grading)!r}))
    """))
    verdict = attack.verdict()
    assert fingerprint(other_grading) not in verdict.values(), f"the worker read {other_grading}: {verdict}"
    assert "result.json" not in verdict["listing"], verdict


@pytest.fixture
def real_tmp_file() -> Iterator[Path]:
    """A file another program left in the machine's /tmp, readable by everyone."""
    fd, name = tempfile.mkstemp(prefix="adversarial-tmp-", dir="/tmp")
    os.write(fd, f"canary-tmp-{secrets.token_hex(8)}\n".encode())
    os.close(fd)
    os.chmod(name, 0o644)
    yield Path(name)
    os.unlink(name)


def test_files_in_the_real_tmp_cannot_be_read(grader, real_tmp_file):
    attack = grader.attack("read_real_tmp", hostile(READ, f"""
        def train(model, x, y, epochs, lr):
            seen = _attempt(lambda: {real_tmp_file.name!r} in os.listdir("/tmp"))
            _report(seen=seen, **_read_everyway({str(real_tmp_file)!r}))
    """))
    verdict = attack.verdict()
    assert fingerprint(real_tmp_file) not in verdict.values(), f"the worker read {real_tmp_file}: {verdict}"
    assert verdict["seen"] == "False", verdict


def test_listing_parents_does_not_find_the_course(grader):
    # The copy graded here, and the harness's own course (this repository) with its examples and solutions.
    course, names = grader.course.root, {grader.course.root.name, "examples", "solutions", "hidden_tests"}
    folders = ["/", str(course.parent), str(course), str(ROOT), str(ROOT.parent)]
    attack = grader.attack("list_parents", hostile(READ, f"""
        def _names(folder):
            return sorted(set(os.listdir(folder)) & set({sorted(names)!r}))

        def train(model, x, y, epochs, lr):
            _report(**{{str(i): _attempt(lambda: _names(folder)) for i, folder in enumerate({folders!r})}})
    """))
    verdict = attack.verdict()
    found = {folders[int(i)]: seen for i, seen in verdict.items() if seen.startswith("[") and seen != "[]"}
    assert not found, f"listing parents found the course: {found}"


def test_the_grading_process_cannot_be_read(grader):
    me = os.getpid()
    attack = grader.attack("read_grader", hostile(READ, f"""
        def train(model, x, y, epochs, lr):
            found = {{}}
            for part in ("environ", "cmdline", "maps"):
                for how, outcome in _read_everyway(f"/proc/{me}/{{part}}").items():
                    found[part[:3] + "_" + how[:3]] = outcome[:5]
            found["ppid"] = _attempt(lambda: _plain(f"/proc/{{os.getppid()}}/cmdline"))[:5]
            _report(**found)
    """))
    verdict = attack.verdict()
    assert not any(v.startswith("read") for v in verdict.values()), verdict


# What the client passes on purpose (graders/worker/client.py _PASSED_ENV and the settings it adds).
PASSED_ON = {"PATH", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "HOME",
             "TMPDIR", "PYTHONHASHSEED", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUBLAS_WORKSPACE_CONFIG", "MPLBACKEND",
             "PYTHONDONTWRITEBYTECODE"}


def test_the_environment_holds_nothing_of_the_grader(grader, monkeypatch):
    monkeypatch.setenv("ADVERSARIAL_SECRET", "canary-environment")
    # What the grading process was started with, by value: libraries set some variables (torch's
    # TORCHINDUCTOR_CACHE_DIR) to the same value in every process that imports them.
    initial = Path("/proc/self/environ").read_text().split("\0")
    started_with = dict(item.split("=", 1) for item in initial if "=" in item)
    graders_own = {k: _digest(v) for k, v in {**started_with, **os.environ}.items()
                   if k not in PASSED_ON and (k in started_with or k == "ADVERSARIAL_SECRET")}
    attack = grader.attack("environment", hostile(f"""
        import hashlib, os

        def _same(key, value):
            return {graders_own!r}.get(key) == hashlib.sha256(value.encode()).hexdigest()[:12]

        def train(model, x, y, epochs, lr):
            _report(inherited=[k for k, v in os.environ.items() if _same(k, v)],
                    secret="canary-environment" in str(os.environ))
    """))
    assert attack.verdict() == {"inherited": [], "secret": False}


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:12]


def eval_labels(grader) -> torch.Tensor:
    budget = grader.course.config.topics["linear_regression"].budget
    return toy.noisy_line(int(budget["n_eval"]), seed=grader.course.config.eval_seed_for("linear_regression"))[1]


def test_stack_and_memory_hold_no_labels(grader):
    labels = eval_labels(grader)
    attack = grader.attack("stack_inspection", hostile(BROKEN_TRAIN, f"""
        import gc, sys, torch

        def _looks_like_labels(value):
            return isinstance(value, torch.Tensor) and value.shape == ({labels.shape[0]}, 1) and \\
                abs(float(value.double().sum()) - {float(labels.double().sum())!r}) < 1e-3

        def predict(model, x):
            frames, frame = 0, sys._getframe()
            names = set()
            while frame is not None:  # every caller: the task, the runner, the worker's main loop
                frames += 1
                names.update(frame.f_locals)
                for value in list(frame.f_locals.values()) + list(frame.f_globals.values()):
                    if _looks_like_labels(value):
                        return value
                frame = frame.f_back
            found = [o for o in gc.get_objects() if _looks_like_labels(o)]
            if found:
                return found[0]
            _report(frames=frames, tensors=sum(isinstance(o, torch.Tensor) for o in gc.get_objects()))
    """))
    # The labels never entered the worker: nothing found, and the broken training fails as it does honestly.
    assert attack.verdict()["frames"] > 2
    assert attack.passed <= grader.broken.passed and "fit_quality" not in attack.passed, attack.messages()


def test_held_out_labels_cannot_be_regenerated(grader):
    attack = grader.attack("regenerated_labels", hostile(BROKEN_TRAIN, """
        import sys
        from graders.data import toy

        def predict(model, x):
            frame = sys._getframe(1)
            while "seed" not in frame.f_locals:  # the task's own arguments, one frame up
                frame = frame.f_back
            # The seed the held-out points once came from (seed + 1000): public code, public seed.
            return toy.noisy_line(x.shape[0], seed=frame.f_locals["seed"] + 1000)[1]
    """))
    assert "fit_quality" not in attack.passed, attack.message("fit_quality")
