"""Forging results: patching torch, numpy, builtins or our own modules inside the worker, lying return values,
fake reports on stdout and forged protocol frames on the response pipe."""

from __future__ import annotations

import pytest

from tests.adversarial.conftest import BROKEN_TRAIN, hostile

# Hostile code's way to the worker's response pipe: its write-only pipe descriptors, where a forged frame goes.
FRAME_WRITER = """
import fcntl, os, struct
from graders.worker.protocol import encode

def _response_pipes():
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("pipe:") and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:
            yield fd
"""

# Checks computed in the grading process from data that crossed the boundary: forging needs the right answer.
GRADER_SIDE = {"loss_decreases", "fit_quality"}

NO_ZERO_GRAD = '''
def train(model, x, y, epochs, lr):  # an honest mistake: gradients pile up across epochs
    criterion, optimizer = nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
'''


def test_patching_comparisons_in_the_worker_changes_no_verdict(grader):
    attack = grader.attack("patcher", hostile(BROKEN_TRAIN, """
        import builtins, sys
        import numpy
        import graders.checks, graders.worker.tasks

        yes = lambda *args, **kwargs: True
        torch.Tensor.__eq__ = torch.Tensor.__lt__ = torch.Tensor.__le__ = yes
        torch.equal = torch.allclose = torch.isclose = yes
        numpy.allclose = numpy.array_equal = yes
        numpy.testing.assert_allclose = lambda *args, **kwargs: None
        for name in dir(graders.checks):  # the grader's own check functions, as the worker has a copy
            if callable(getattr(graders.checks, name)) and not name.startswith("_"):
                setattr(graders.checks, name, lambda *args, **kwargs: graders.checks.Outcome(True, "forged"))
        sys.modules["graders.checks"] = graders.checks
        _real_isinstance = builtins.isinstance
        builtins.isinstance = lambda obj, kind: kind is float or _real_isinstance(obj, kind)  # all things are floats
    """), honest_after=True)
    # Checks run in the grading process on the data that crossed; patches inside the worker never reach them.
    assert not (attack.passed - grader.broken.passed), attack.messages()
    assert not (GRADER_SIDE & attack.passed)


def test_replacing_the_workers_validators_lets_nothing_invalid_through(grader):
    attack = grader.attack("validator_patch", hostile("""
        import graders.worker.tasks, graders.worker.tasks.regression

        graders.worker.tasks.floats = graders.worker.tasks.regression.floats = lambda values, what, **_: values
        graders.worker.tasks.tensor = graders.worker.tasks.regression.tensor = lambda value, what: value
        _honest_train = train

        def train(model, x, y, epochs, lr):
            losses = _honest_train(model, x, y, epochs, lr)
            return {"losses": losses, "note": "perfect"}  # not a list of floats
    """))
    # The grader validates again what crossed: a dict is no list of losses, whatever the worker let through.
    # (predict_no_grad runs predict() on a model the harness's loop trained: train() is not its subject, #12.)
    assert not ({"train_returns_losses", "loss_decreases", "fit_quality"} & attack.passed)
    assert "list of floats" in attack.message("train_returns_losses"), attack.messages()


def test_forged_zero_grad_observation_earns_nothing(grader):
    attack = grader.attack("zero_grad_forger", hostile(NO_ZERO_GRAD, """
        torch.equal = lambda a, b: True  # the watcher now sees a fresh gradient at every step
    """))
    # zero_grad compares train()'s losses with the reference's in the grader; the watcher only picks the hint.
    assert "zero_grad" not in attack.passed, attack.message("zero_grad")
    assert "epoch 3" in attack.message("zero_grad"), attack.message("zero_grad")


def test_replaced_gradient_watcher_earns_nothing(grader):
    attack = grader.attack("grad_watch_forger", hostile(NO_ZERO_GRAD, """
        import graders.worker.tasks.hooks, graders.worker.tasks.regression

        class _Blind:  # reports every backward pass as fresh, whatever the gradients did
            def __init__(self, net):
                self.steps, self.accumulated = 100, 0

            def remove(self):
                pass

        graders.worker.tasks.hooks.GradWatch = graders.worker.tasks.regression.GradWatch = _Blind
    """))
    assert "zero_grad" not in attack.passed, attack.message("zero_grad")
    assert "epoch 3" in attack.message("zero_grad"), attack.message("zero_grad")


def test_invented_losses_earn_nothing(grader):
    attack = grader.attack("loss_inventor", hostile("""
        def train(model, x, y, epochs, lr):  # no training at all: a loss curve any checker would like
            return [1.0 / (1 + epoch) for epoch in range(epochs)]
    """))
    # The losses are well formed (train_returns_losses checks only that); loss_decreases also asks the grader's
    # own measure, the held-out predictions, which an untrained model cannot make better than a constant.
    assert "train_returns_losses" in attack.passed
    assert not ({"loss_decreases", "fit_quality", "zero_grad"} & attack.passed), attack.messages()
    assert "no better on held-out data" in attack.message("loss_decreases"), attack.messages()


def test_patching_is_grad_enabled_does_not_hide_gradient_tracking(grader):
    attack = grader.attack("grad_mode_forger", hostile("""
        def predict(model, x):
            real, torch.is_grad_enabled = torch.is_grad_enabled, lambda: False  # only while predicting
            try:
                return model(x).detach()  # computed with gradient tracking on: the mistake predict_no_grad finds
            finally:
                torch.is_grad_enabled = real
    """))
    # predict_no_grad carries a point again (issue #12): the harness took its own reference to the grad mode before
    # the student's module loaded, so patching torch's does not hide the tracking.
    assert attack.checks["predict_no_grad"].max_points == 1, attack.messages()  # type: ignore[attr-defined]
    assert "predict_no_grad" not in attack.passed, attack.message("predict_no_grad")
    assert attack.message("predict_no_grad").startswith("predict() ran the model with gradient tracking on")


def test_forged_training_time_earns_nothing(grader):
    attack = grader.attack("clock_forger", hostile("""
        import time

        _honest_train = train

        def train(model, x, y, epochs, lr):
            frozen = time.perf_counter()
            time.perf_counter = lambda: frozen  # the task's stopwatch stops here
            time.sleep(1.5)  # 30 times the reference's floored 0.05 s: fails training_time honestly
            return _honest_train(model, x, y, epochs, lr)
    """))
    assert "training_time" not in attack.passed, attack.message("training_time")


def test_replayed_answers_do_not_pass_the_determinism_check(grader):
    attack = grader.attack("replayer", hostile("""
        import time

        _honest_train, _honest_predict, _memo = train, predict, {}

        def train(model, x, y, epochs, lr):
            torch.manual_seed(time.time_ns() % 2**31)  # the mistake: reseeded from the clock
            with torch.no_grad():
                for p in model.parameters():
                    p.normal_()
            key = ("train", float(x.sum()), epochs, type(model).__name__)
            _memo.setdefault(key, _honest_train(model, x, y, epochs, lr))
            return list(_memo[key])

        def predict(model, x):
            return _memo.setdefault(("predict", float(x.sum())), _honest_predict(model, x))
    """))
    assert "deterministic" not in attack.passed, attack.message("deterministic")


LIARS = {
    "subclass": """
        class _Liar(torch.Tensor):  # equal to everything, and every torch call on it returns itself
            def __eq__(self, other):
                return True

            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                result = super().__torch_function__(func, types, args, kwargs or {})
                return args[0] if isinstance(result, torch.Tensor) and args else result

        def predict(model, x):
            with torch.no_grad():
                return model(x).as_subclass(_Liar)
    """,
    "always_equal": """
        class _Yes:
            def __eq__(self, other):
                return True

            def __float__(self):
                return 0.0

        def predict(model, x):
            return _Yes()
    """,
    "raises_when_touched": """
        class _Trap(torch.Tensor):
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                raise KeyboardInterrupt  # not an Exception: escapes the worker's handler

        def predict(model, x):
            with torch.no_grad():
                return model(x).as_subclass(_Trap)
    """,
    "list_subclass": """
        class _Losses(list):  # claims 100 decreasing losses, holds 3
            def __len__(self):
                return 100

            def __getitem__(self, i):
                return 1.0 / (1 + (i if isinstance(i, int) else 0))

            def __eq__(self, other):
                return True

        def train(model, x, y, epochs, lr):
            return _Losses([3.0, 2.0, 1.0])
    """,
}


@pytest.mark.parametrize("liar", sorted(LIARS))
def test_lying_return_values_earn_nothing(grader, liar):
    attack = grader.attack(f"liar_{liar}", hostile(BROKEN_TRAIN, LIARS[liar]))
    # On top of a train() that learns nothing: whatever the objects claim, only what crossed is judged.
    assert not (attack.passed - grader.broken.passed), attack.messages()
    assert not (GRADER_SIDE & attack.passed)


@pytest.mark.parametrize("value", ["float('nan')", "float('inf')", "1e308", "-1e308"])
def test_non_finite_or_huge_predictions_fail_cleanly(grader, value):
    attack = grader.attack(f"values_{value.strip('-()')}", hostile(f"""
        def predict(model, x):
            return torch.full((x.shape[0], 1), {value})
    """))
    # predict()'s own check fails; fit_quality scores the harness's predict (issue #12: one mistake, one check).
    assert attack.passed == set(attack.checks) - {"predict_no_grad"}, attack.messages()


@pytest.mark.parametrize("dtype", ["float64", "float16", "int64", "bool", "complex64"])
def test_wrong_dtypes_fail_with_the_dtype_named(grader, dtype):
    attack = grader.attack(f"dtype_{dtype}", hostile(f"""
        _honest_predict = predict

        def predict(model, x):
            return _honest_predict(model, x).to(torch.{dtype})
    """))
    assert attack.passed == set(attack.checks) - {"predict_no_grad"}, attack.messages()
    assert dtype in attack.message("predict_no_grad") or "dtype" in attack.message("predict_no_grad"), attack.messages()


def test_fake_reports_and_frames_on_stdout_change_nothing(grader):
    attack = grader.attack("printer", hostile(BROKEN_TRAIN, """
        import os, struct, sys
        from graders.worker.protocol import encode

        _fake = encode({"ok": True, "value": {"losses": [1.0 / (i + 1) for i in range(100)]}})
        _broken_train = train

        def train(model, x, y, epochs, lr):
            print("linear_regression: 12 / 12 points, all checks passed")
            sys.stdout.flush()
            os.write(1, struct.pack(">Q", len(_fake)) + _fake)
            os.write(2, b"PASSED " * 100)
            return _broken_train(model, x, y, epochs, lr)
    """))
    assert attack.passed == grader.broken.passed, attack.messages()


def test_forged_frame_on_the_response_pipe_cannot_pass_the_quality_check(grader):
    attack = grader.attack("frame_forger", hostile(BROKEN_TRAIN, FRAME_WRITER, """
        _broken_train = train

        def train(model, x, y, epochs, lr):
            perfect = {"losses": [1.0 / (i + 1) for i in range(epochs)], "seconds": 0.001,
                       "predictions": torch.zeros(200, 1), "prediction_requires_grad": False,
                       "predict_changed_params": False, "backward_steps": epochs, "accumulated_steps": 0,
                       "state": {}}
            frame = encode({"ok": True, "value": perfect})
            for fd in _response_pipes():  # answers this call before the worker does; the real answer lags one call
                os.write(fd, struct.pack(">Q", len(frame)) + frame)
            return _broken_train(model, x, y, epochs, lr)
    """), honest_after=True)
    # The forged frame claims anything the worker could claim, but the labels never entered the worker.
    assert not ({"fit_quality", "model_with_harness_loop"} & attack.passed), attack.messages()


def test_forged_failure_frame_cannot_blame_the_grader(grader):
    """A worker's frames can be forged, so a failure it reports can only be the student's: a forged "grader"
    failure ("ask the instructor: this is not your fault") is read as the student's code raising."""
    attack = grader.attack("blames_grader", hostile(BROKEN_TRAIN, FRAME_WRITER, """
        def train(model, x, y, epochs, lr):
            frame = encode({"ok": False, "error": {"kind": "grader", "message": "grader error: please regrade me"}})
            for fd in _response_pipes():
                os.write(fd, struct.pack(">Q", len(frame)) + frame)
            raise SystemExit(0)  # nothing honest follows the forged frame
    """))
    blamed = [c.name for c in attack.result.checks() if c.cause == "grader" or "not your fault" in c.hint]
    assert not blamed, attack.messages()
    assert "loss_decreases" not in attack.passed
