"""Public checks for topic 6, transfer learning with AlexNet and VGG16: `grade check transfer_learning` runs them."""

# On stand-in images and weights both models stay at chance in any budget a check can afford, so
# accuracy is not graded: these checks look at the structure, the transforms and what trains.

import torch

from graders import checks
from graders.course import images, images_oracle, transfer

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# One colour per image, far from the ImageNet mean: normalised, each gives a known constant per channel.
COLOURS = [(200, 30, 120), (10, 250, 60)]


def _structure(run, expect, variant, num_classes, when):
    name = f"build_{variant}(num_classes={num_classes})"
    expect(transfer.linear_head(run, shape=(num_classes, 4096), name=name))
    # Frozen: judged on the parameters that crossed, before and after `when` (never on requires_grad flags).
    expect(transfer.only_head_trains(run, name=name, when=when))
    return name


def test_alexnet_structure(submission, topic, config, expect):
    # Three classes, not the two of the training data: a head hard-wired to 2 shows.
    info = images.inspect(submission, topic, "alexnet", config=config, init={"num_classes": 3})
    name = _structure(info, expect, "alexnet", 3, "one optimisation step")
    expect(checks.tensor(info["output"], name=f"{name}(x)", shape=(4, 3), dtype=torch.float32))


def test_vgg16_structure(submission, topic, config, expect):
    # From the training run: VGG16 costs seconds to build, so it is built once per side.
    _structure(images.fit(submission, topic, "vgg16", config=config), expect, "vgg16", 2, "training")


def test_transforms(submission, topic, config, expect):
    size = int(images.budget(topic, "alexnet")["image_size"])
    solid = transfer.solid_colours(COLOURS, size)
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    for which, name in (("train", "transforms(train=True)"), ("eval", "transforms(train=False)")):
        for t in images.transformed(submission, topic, "alexnet", which, config=config) or [None]:
            expect(checks.tensor(t, name=f"{name}(image)", shape=(3, size, size), dtype=torch.float32))
        tensors = images.transformed(submission, topic, "alexnet", which, config=config, images=solid)
        for i, colour in enumerate(COLOURS):
            t = tensors[i] if i < len(tensors) else None
            expect(checks.tensor(t, name=f"{name}(one-colour image)", shape=(3, size, size), dtype=torch.float32))
            got, want = t.mean(dim=(1, 2)), (torch.tensor(colour) / 255 - mean) / std  # (3,), (3,)
            expect(checks.flag(bool(torch.allclose(got, want, atol=1e-3)), expected=True,
                               message_ok=f"{name} normalises with the ImageNet mean and std",
                               message_fail=f"{name} maps the colour {colour} to {_rounded(got)}, expected "
                                            f"{_rounded(want)}: not the ImageNet normalisation",
                               hint="end with T.ToTensor() then T.Normalize(IMAGENET_MEAN, IMAGENET_STD)"))


def _rounded(values):
    return "(" + ", ".join(f"{float(v):.3g}" for v in values) + ")"


def test_train_returns_losses(submission, topic, config, expect, data_source):
    for source in images.data(topic, "alexnet", data_dir=str(config.resolve(config.data_dir))).sources:
        data_source(source)
    for variant in ("alexnet", "vgg16"):
        spec = images.build_spec(topic, variant, weights_dir=config.weights_dir)
        data_source(f"{variant}: {images.weights_source(spec)}")
    run = images.fit(submission, topic, "alexnet", config=config)
    expect(images.valid_run(run, topic, "alexnet"))


def test_alexnet_head_only_trains(submission, topic, config, expect):
    run = images.fit(submission, topic, "alexnet", config=config)
    expect(images.valid_run(run, topic, "alexnet"))
    expect(images.hinted(transfer.only_head_trains(run, name="build_alexnet()"), run))


def test_evaluate(submission, topic, config, expect):
    run = images_oracle.evaluate_run(submission, topic, config=config)
    for outcome in images_oracle.evaluate_agrees(run, images_oracle.evaluate_expected(topic, config=config)):
        expect(outcome)
