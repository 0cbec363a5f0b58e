import time, subprocess, os
from pathlib import Path
from tests.adversarial.conftest import hostile
from tests.adversarial.test_processes import SPAWN, any_alive, kill_everything_of, reaping_ancestor, _children  # noqa

def test_dbg(grader):
    a = grader.grade_plain("fleeing", hostile(SPAWN, f"""
        import sys, time, os

        def train(model, x, y, epochs, lr):
            pid = _spawn("/bin/sleep", "5")
            pid2 = _spawn(sys.executable, "-c", "import time; time.sleep(5)")
            time.sleep(0.5)
            seen = [p for p in os.listdir("/proc") if p.isdigit()]
            st = open(f"/proc/{{pid}}/stat").read()[:60] if str(pid) in seen else "gone"
            _report(pid=pid, pid2=pid2, seen=" ".join(seen), st=st, w=os.waitpid(pid2, os.WNOHANG))
    """))
    print(a.message("train_returns_losses"))
    kill_everything_of(a.uid)
