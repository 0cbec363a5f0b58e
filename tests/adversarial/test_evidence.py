"""Points from evidence the grader computes itself (issue #11): guessing held-out labels from their order, figures
and flags the harness computed inside the worker, oracle runs a loop can recognise, floods of criterion calls."""

from __future__ import annotations

from pathlib import Path

from graders.reports import write_reports
from tests.adversarial.conftest import IMAGE_SOLUTION, IMAGE_TOPIC, TRANSFER_SOLUTION, TRANSFER_TOPIC, hostile


def test_guessing_labels_from_the_held_out_order_earns_nothing(grader):
    attack = grader.attack("position_guesser", hostile("""
        class Classifier(Classifier):  # trains honestly; evaluated, it answers "item i is the digit i % 10"
            def forward(self, x):
                out = super().forward(x)
                if self.training:
                    return out
                guess = torch.arange(len(x)) % 10  # batches of 50: position in the batch = position overall, mod 10
                return torch.nn.functional.one_hot(guess, 10).float() * 10
    """, base=IMAGE_SOLUTION), topic=IMAGE_TOPIC)
    # Held-out images come in an order drawn from the secret seed: a position tells nothing of a label.
    assert "accuracy" not in attack.passed, attack.message("accuracy")


def test_patching_the_expected_figures_does_not_pass_evaluate(grader):
    attack = grader.attack("evaluate_forger", hostile("""
        import graders.worker.tasks, graders.worker.tasks.images as _tasks

        def evaluate(model, loader, criterion, device):  # evaluates nothing
            return 0.5, 0.5

        # The trick: make whatever the worker reports as the expected figures agree with these.
        _FORGED = {"evaluate": [0.5, 0.5], "evaluate_expected": [0.5, 0.5], "evaluate_modes": [False],
                   "evaluate_grad": False, "grad_enabled": False}
        if hasattr(_tasks, "_check_evaluate"):
            _tasks._check_evaluate = lambda *args, **kwargs: dict(_FORGED)
        if "images.evaluate" in graders.worker.tasks.TASKS:
            graders.worker.tasks.TASKS["images.evaluate"] = lambda module, **kwargs: dict(_FORGED)
    """, base=IMAGE_SOLUTION), topic=IMAGE_TOPIC)
    # The expected figures are computed in the grading process, on the harness's model built there.
    assert "evaluate" not in attack.passed, attack.message("evaluate")


def test_reweighing_the_criterion_records_does_not_pass_mean_loss(grader):
    attack = grader.attack("batch_size_forger", hostile("""
        _honest = train_one_epoch

        def train_one_epoch(model, loader, criterion, optimizer, device):
            _honest(model, loader, criterion, optimizer, device)
            inputs, labels = next(iter(loader))
            last = torch.nn.functional.cross_entropy(model(inputs), labels).item()  # not the epoch's mean
            # The trick: the records of this epoch now weigh its last batch only, which claims that loss.
            records = getattr(criterion, "_seen", None)
            if isinstance(records, list):
                for record in records[-len(loader):-1]:
                    record[1] = 0.0
                records[-1][0] = last
            for name in ("_logits", "_targets"):
                kept = getattr(criterion, name, None)
                if isinstance(kept, list):
                    for i in range(max(0, len(kept) - len(loader)), len(kept) - 1):
                        kept[i] = kept[i][:1]
            return last
    """, base=IMAGE_SOLUTION), topic=IMAGE_TOPIC)
    # Batch sizes and losses are measured in the grading process from the logits and targets that crossed.
    assert "mean_loss" not in attack.passed, attack.message("mean_loss")


NOT_FROZEN = """
    import graders.worker.tasks.images as _tasks

    def build_alexnet(num_classes=2, weights=None):  # the honest mistake: model.features is left trainable
        model = torchvision.models.alexnet(weights=None)
        if weights is not None:
            model.load_state_dict(weights)
        model.classifier[6] = nn.Linear(4096, num_classes)
        return model

    # The trick: what the harness measures in here says model.features is frozen and left unchanged by training.
    if hasattr(_tasks, "_describe"):
        _real_describe = _tasks._describe

        def _describe(net):
            found = _real_describe(net)
            found["trainable"] = {name: not name.startswith("features.") for name in found["trainable"]}
            return found

        _tasks._describe = _describe
    if hasattr(_tasks, "_fingerprint"):
        _real_fingerprint, _first = _tasks._fingerprint, {}

        def _fingerprint(net):
            found = _real_fingerprint(net)
            if "features" in found:
                found["features"] = _first.setdefault(id(net), found["features"])
            return found

        _tasks._fingerprint = _fingerprint
"""


def test_forged_frozen_flags_do_not_pass_the_transfer_checks(grader):
    attack = grader.attack("frozen_forger", hostile(NOT_FROZEN, base=TRANSFER_SOLUTION), topic=TRANSFER_TOPIC)
    # Frozen is judged on parameters that crossed, compared in the grading process before and after training (by
    # the *_head_only_trains checks since issue #12: the structure checks look at the head alone).
    assert not ({"alexnet_head_only_trains", "matches_reference"} & attack.passed), attack.messages()


def test_a_loop_that_behaves_only_on_a_model_it_does_not_know_fails_zero_grad_and_train_mode(grader):
    attack = grader.attack("oracle_spotter", hostile("""
        def train_one_epoch(model, loader, criterion, optimizer, device):
            mine = isinstance(model, Classifier)  # the trick: the harness's oracle model is not mine
            if not mine:
                model.train()
            total, seen = 0.0, 0
            for inputs, labels in loader:
                inputs, labels = inputs.to(device), labels.to(device)
                if not mine:
                    optimizer.zero_grad()
                loss = criterion(model(inputs), labels)
                loss.backward()
                optimizer.step()
                total, seen = total + loss.item() * len(labels), seen + len(labels)
            return total / seen
    """, base=IMAGE_SOLUTION), topic=IMAGE_TOPIC)
    # The ordinary run of the student's own model is looked at too: there the loop shows what it really does.
    assert not ({"zero_grad", "train_mode"} & attack.passed), attack.messages()


def test_a_flood_of_criterion_calls_fails_with_its_count_and_keeps_reports_small(grader, tmp_path):
    attack = grader.attack("criterion_flood", hostile("""
        _honest = train_one_epoch

        def train_one_epoch(model, loader, criterion, optimizer, device):
            loss = _honest(model, loader, criterion, optimizer, device)
            inputs, labels = next(iter(loader))
            with torch.no_grad():
                out = model(inputs[:1])
            for _ in range(20000):  # the trick: tens of thousands of records per epoch
                criterion(out, labels[:1])
            return loss
    """, base=IMAGE_SOLUTION), topic=IMAGE_TOPIC)
    written = write_reports(attack.result, tmp_path, audience="instructor")
    size = sum(Path(p).stat().st_size for p in written)
    honest = sum(Path(p).stat().st_size for p in write_reports(grader.honest_of(IMAGE_TOPIC).result,
                                                                tmp_path / "honest", audience="instructor"))
    assert size < 2 * honest + (64 << 10), (size, honest)
    # The count is checked against the budget (epochs x batches) before any record is used.
    assert not ({"mean_loss", "loss_decreases"} & attack.passed), attack.messages()
    assert "times for 60 batches" in attack.message("mean_loss"), attack.message("mean_loss")


def test_a_train_that_behaves_only_on_the_harness_model_fails_zero_grad(grader):
    attack = grader.attack("standard_model_spotter", hostile("""
        def train(model, x, y, epochs, lr):
            mine = isinstance(model, LinearRegression)  # the trick: the harness's standard model is not mine
            criterion, optimizer = nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=lr)
            losses = []
            for _ in range(epochs):
                if not mine:
                    optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            return losses
    """))
    assert "zero_grad" not in attack.passed, attack.message("zero_grad")
