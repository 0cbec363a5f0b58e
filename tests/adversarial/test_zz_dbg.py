import time, subprocess, os, threading, dataclasses
from tests.adversarial.conftest import hostile, live_processes
from tests.adversarial.test_processes import SPAWN, FLEE, reaping_ancestor, _children, frozen_processes, kill_everything_of  # noqa

def test_dbg(grader, reaping_ancestor):
    config = grader.course.config
    config = dataclasses.replace(config, limits=dataclasses.replace(config.limits, processes=4000))
    err = "import os, sys\nwhile True:\n    try:\n        p = os.fork()\n    except BaseException as e:\n        open('/proc/self/fd/2', 'w').write(repr(e))\n        raise\n    if p:\n        os._exit(0)\n"
    a = grader.grade_plain("fleeing", config=config, source=hostile(SPAWN, f"""
        import sys, os, time, resource
        _chains = [_spawn(sys.executable, "-c", {FLEE!r}) for _ in range(8)]

        def train(model, x, y, epochs, lr):
            counts = []
            for _ in range(6):
                time.sleep(0.2)
                counts.append(len([p for p in os.listdir("/proc") if p.isdigit()]))
            _report(counts=counts, nproc=resource.getrlimit(resource.RLIMIT_NPROC))
    """))
    print(a.message("train_returns_losses"), _children())
    print("frozen", frozen_processes(a.uid), live_processes(a.uid))
    kill_everything_of(a.uid)
