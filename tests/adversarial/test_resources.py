"""Resources: unbounded memory (private and shared), one huge file, many files filling the disk."""

from __future__ import annotations

import pytest

from tests.adversarial.conftest import hostile, patient

# The checks that never call train(): the model's, and predict()'s on a model the harness's loop trained (#12).
WITHOUT_TRAIN = {"model_structure", "model_with_harness_loop", "predict_no_grad"}


def test_unbounded_allocation_is_a_memory_error(grader):
    # Zeroing 2 GB in 64 MB chunks takes seconds on a busy machine: more than the course copy's 3 s per call, and
    # a timeout is not the verdict this test is about.
    attack = grader.attack("memory_hog", hostile("""
        def train(model, x, y, epochs, lr):
            chunks = []
            while True:
                chunks.append(bytearray(64 << 20))
    """), config=patient(grader.course.config, call_s=30))
    assert attack.passed == WITHOUT_TRAIN, attack.messages()
    assert "MemoryError" in attack.message("train_returns_losses")


SHARED_HOG = """
    import mmap, os

    def _grab_mapping(size_mb):  # MAP_SHARED and anonymous: RLIMIT_DATA does not count it
        area = mmap.mmap(-1, size_mb << 20)
        try:
            area.madvise(23)  # MADV_POPULATE_WRITE (Linux 5.14+): the kernel touches every page, fast
        except OSError:
            for _ in range(size_mb >> 4):
                area.write(bytes(16 << 20))
        return size_mb

    def _grab_memfd(size_mb):  # in-memory files, each under RLIMIT_FSIZE, allocated by the kernel: fast
        for _ in range(size_mb >> 5):
            fd = os.memfd_create("hog")
            os.posix_fallocate(fd, 0, 32 << 20)
        return size_mb

    def train(model, x, y, epochs, lr):
        _report(private=_attempt(lambda: len(bytearray({over} << 20))), shared=_attempt(lambda: {grab}({over})))
"""


@pytest.mark.parametrize("grab", ["_grab_mapping", "_grab_memfd"])
def test_shared_memory_is_limited_too(grader, grab):
    if not grader.protection("memory_cgroup"):
        pytest.skip("no memory cgroup can be made here (grade doctor says why): only RLIMIT_DATA limits memory")
    config = grader.course.config
    limit_mb = config.limits.memory_mb
    # Filling 2 GB takes seconds on a busy machine: more than the course copy's 3 s per call.
    attack = grader.attack(f"shared_hog{grab}", hostile(SHARED_HOG.format(over=limit_mb + 256, grab=grab)),
                           config=patient(config, call_s=30))
    assert attack.passed <= WITHOUT_TRAIN, attack.messages()
    # RLIMIT_DATA stops the private copy with a MemoryError; the cgroup kills the worker on the shared memory.
    killed = [name for name in attack.checks if "more than the memory limit" in attack.message(name)]
    assert killed, attack.messages()


def test_one_huge_file_stops_at_the_file_size_limit(grader):
    limits = grader.course.config.limits
    attack = grader.attack("huge_file", hostile("""
        def _fill():
            block = b"x" * (1 << 20)
            with open("huge.bin", "wb") as f:
                for _ in range(4096):  # 4 GB if nothing stops it
                    f.write(block)

        def train(model, x, y, epochs, lr):
            import os
            outcome = _attempt(_fill)
            _report(outcome=outcome, mb=os.path.getsize("huge.bin") >> 20)
    """))
    verdict = attack.verdict()
    assert verdict["outcome"] == "OSError" and verdict["mb"] <= limits.file_size_mb, verdict  # EFBIG


def test_many_files_cannot_fill_the_disk(grader):
    attack = grader.attack("many_files", hostile("""
        import os

        def _fill(folder, written):
            block = b"x" * (1 << 20)
            for i in range(400):  # 400 files of 32 MB: 12.5 GB if nothing stops it
                with open(os.path.join(folder, f"part{i}.bin"), "wb") as f:
                    for _ in range(32):
                        f.write(block)
                        written[folder] = written.get(folder, 0) + 1

        def train(model, x, y, epochs, lr):
            written = {}
            outcomes = {folder: _attempt(lambda: _fill(folder, written)) for folder in (".", "/tmp", "/dev/shm")}
            _report(outcomes=outcomes, mb=written)
    """))
    verdict = attack.verdict()
    # Each writable place is a capped layer of the worker's own (scratch_mb, 4 x file_size_mb by default): ENOSPC.
    cap = 4 * grader.course.config.limits.file_size_mb
    assert set(verdict["outcomes"].values()) == {"OSError"}, verdict
    assert all(mb <= cap for mb in verdict["mb"].values()), verdict
