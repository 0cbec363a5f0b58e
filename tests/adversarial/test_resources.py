"""Resources: unbounded memory (private and shared), one huge file, many files filling the disk."""

from __future__ import annotations

import pytest

from tests.adversarial.conftest import hostile

WITHOUT_TRAIN = {"model_structure", "model_with_harness_loop"}


def test_unbounded_allocation_is_a_memory_error(grader):
    attack = grader.attack("memory_hog", hostile("""
        def train(model, x, y, epochs, lr):
            chunks = []
            while True:
                chunks.append(bytearray(64 << 20))
    """))
    assert attack.passed == WITHOUT_TRAIN, attack.messages()
    assert "MemoryError" in attack.message("train_returns_losses")


@pytest.mark.xfail(strict=True, reason="RLIMIT_DATA counts private mappings only: mmap.mmap(-1, n) (MAP_SHARED), "
                   "memfd_create and shmget memory is not limited (fix: a memory cgroup per worker, memory.max = "
                   "memory_mb, made by the grader: graders/worker/client.py or zygote.py)")
def test_shared_memory_mapping_is_limited_too(grader):
    limit_mb = grader.course.config.limits.memory_mb
    attack = grader.attack("shared_hog", hostile(f"""
        import mmap

        def _data_mb():
            with open("/proc/self/status") as f:
                return next(int(line.split()[1]) >> 10 for line in f if line.startswith("VmData:"))

        def _grab(size):
            area = mmap.mmap(-1, size << 20)  # MAP_SHARED, anonymous
            for offset in range(0, size << 20, 4096):
                area[offset] = 1
            area.close()
            return size

        _seen = {{}}

        def train(model, x, y, epochs, lr):
            if not _seen:  # once per worker: each train() call would take the memory again
                size = {limit_mb} - _data_mb() + 256  # 256 MB more than RLIMIT_DATA leaves
                _seen.update(private=_attempt(lambda: len(bytearray(size << 20))), data=_data_mb(),
                             shared=_attempt(lambda: _grab(size)))
            _report(**_seen)
    """))
    verdict = attack.verdict()
    assert verdict["private"] == "MemoryError", verdict  # RLIMIT_DATA works for ordinary allocations
    held = verdict["data"] + int(verdict["shared"]) if verdict["shared"].isdigit() else 0
    assert held <= limit_mb, f"the worker held {held} MB with a limit of {limit_mb} MB: {verdict}"


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
