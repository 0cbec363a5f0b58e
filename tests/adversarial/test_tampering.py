"""Writing where a worker must not: the course folders, reports, its own submission's source, other students'
work; rewriting its own copy mid-grading; shipping files that would hijack imports or the test run."""

from __future__ import annotations

from tests.adversarial.conftest import FOLDER, SOLUTION, hostile, verdicts

WRITE = """
import os

def _append(path):
    with open(path, "a") as f:
        f.write("# tampered\\n")

def _create(folder):
    with open(os.path.join(folder, "planted.py"), "w") as f:
        f.write("TAMPERED = True\\n")
"""


def test_writes_outside_the_worker_change_nothing(grader):
    course = grader.course
    own_source = course.submissions / "writer" / FOLDER / "linear_regression.py"
    files = {what: str(path) for what, path in course.files.items()} | {"own_source": str(own_source)}
    folders = {"root": course.root, "assignments": course.root / "assignments" / FOLDER,
               "hidden_tests": course.root / "hidden_tests" / FOLDER, "reports": course.root / "reports",
               "submissions": course.submissions}
    attack = grader.attack("writer", hostile(WRITE, f"""
        def train(model, x, y, epochs, lr):
            outcome = {{what: _attempt(lambda: _append(path)) for what, path in {files!r}.items()}}
            outcome.update({{"new_" + what: _attempt(lambda: _create(str(folder)))
                            for what, folder in {dict((k, str(v)) for k, v in folders.items())!r}.items()}})
            _report(tried=len(outcome), succeeded=[what for what, result in outcome.items() if result == "ok"])
    """))
    # Grader.attack compared every file of the course copy before and after; the worker saw only refusals.
    assert attack.verdict() == {"tried": len(files) + len(folders), "succeeded": []}


def test_rewriting_its_own_copy_mid_grading_gains_nothing(grader):
    attack = grader.attack("rewriter", hostile("""
        import os

        def train(model, x, y, epochs, lr):
            source = open(__file__).read()
            with open(__file__, "w") as f:  # the worker's copy; the next worker (after the crash) imports it again
                f.write("raise RuntimeError('REWRITTEN')\\n" + source)
            os._exit(1)
    """))
    assert "REWRITTEN" not in attack.messages()  # every worker starts from the grader's copy
    assert attack.passed == {"model_structure", "model_with_harness_loop", "predict_no_grad"}, attack.messages()


def test_the_instructors_tests_cannot_be_changed_mid_grading(grader):
    public = grader.course.root / "assignments" / FOLDER / "test_public.py"
    hidden = grader.course.files["hidden"]
    attack = grader.attack("test_rewriter", hostile(WRITE, f"""
        _outcome = {{"public": _attempt(lambda: open({str(public)!r}, "w").write("def test_x(): pass")),
                    "hidden": _attempt(lambda: open({str(hidden)!r}, "w").write("def test_x(): pass"))}}

        def train(model, x, y, epochs, lr):
            _report(**_outcome)
    """))
    assert "ok" not in attack.verdict().values(), attack.verdict()


HIJACKERS = {
    # Would rewrite reports if pytest loaded it in the grading process, or run first in any Python process.
    "conftest.py": "import os\nos._exit(0)\ndef pytest_runtest_makereport(item, call):\n    pass\n",
    "sitecustomize.py": "import os\nos._exit(0)\n",
    "usercustomize.py": "import os\nos._exit(0)\n",
    "__init__.py": "raise SystemExit('hijacked')\n",
    # Named like packages: would shadow them for every import if they came first on sys.path.
    "torch.py": "raise SystemExit('hijacked torch')\n",
    "numpy.py": "raise SystemExit('hijacked numpy')\n",
    "graders.py": "raise SystemExit('hijacked graders')\n",
    "pytest.py": "raise SystemExit('hijacked pytest')\n",
    "safetensors.py": "raise SystemExit('hijacked safetensors')\n",
    "json.py": "raise SystemExit('hijacked json')\n",
}


def test_files_that_would_hijack_imports_or_pytest_are_left_out(grader):
    attack = grader.attack("hijacker", SOLUTION, files=HIJACKERS, honest_after=True)
    assert verdicts(attack) == verdicts(grader.honest), attack.messages()
    notes = " ".join(attack.result.topics[0].notes)
    assert all(name in notes for name in HIJACKERS), notes
