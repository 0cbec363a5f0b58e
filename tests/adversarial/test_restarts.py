"""State that survives a worker restart: what the last worker printed, replayed to pass `deterministic` (finding 7)."""

from __future__ import annotations

from tests.adversarial.conftest import hostile

# The mistake: train() reseeds from the clock, so two runs differ. The trick: the first run prints its answers
# (losses and trained weights) to stdout, which is the worker's log; the repeat, in a fresh worker, reads them
# back through its own stdout or stderr descriptor (or /proc/self/fd) and replays them.
LOG_REPLAY = """
    import json, os, sys, time

    _honest_train = train

    def _printed():
        texts = []
        for fd in (1, 2):
            try:
                os.lseek(fd, 0, os.SEEK_SET)
                texts.append(os.read(fd, 1 << 24).decode(errors="replace"))
            except OSError:
                pass
            try:
                with open(f"/proc/self/fd/{fd}", "rb") as log:
                    texts.append(log.read().decode(errors="replace"))
            except OSError:
                pass
        return [json.loads(line[6:]) for text in texts for line in text.splitlines() if line.startswith("ANSWER")]

    def train(model, x, y, epochs, lr):
        key = [float(x.sum()), epochs, type(model).__name__]
        for answer in _printed():
            if answer["key"] == key:  # the same call, answered by an earlier worker: replay it
                model.load_state_dict({k: torch.tensor(v) for k, v in answer["state"].items()})
                return answer["losses"]
        torch.manual_seed(time.time_ns() % 2**31)
        with torch.no_grad():
            for p in model.parameters():
                p.normal_()
        losses = _honest_train(model, x, y, epochs, lr)
        state = {k: v.tolist() for k, v in model.state_dict().items()}
        print("ANSWER" + json.dumps({"key": key, "losses": losses, "state": state}), flush=True)
        return losses
"""


def test_a_fresh_worker_cannot_replay_what_the_last_one_printed(grader):
    attack = grader.attack("log_replayer", hostile(LOG_REPLAY))
    # The repeat runs in a fresh worker with a fresh, write-only log: it finds nothing to replay.
    assert "deterministic" not in attack.passed, attack.message("deterministic")
    assert "differ between two runs" in attack.message("deterministic"), attack.messages()
