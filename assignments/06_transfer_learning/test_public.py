"""Public checks for topic 6, transfer learning with AlexNet and VGG16: `grade check transfer_learning` runs them."""

# On stand-in images and weights both models stay at chance in any budget a check can afford, so
# accuracy is not graded: these checks look at the structure, the transforms and what trains.

import torch

from graders import checks
from graders.families import images, images_artifacts, images_oracle, transfer

# One colour per image, far from the ImageNet mean: normalised, each gives a known constant per channel.
COLOURS = [(200, 30, 120), (10, 250, 60)]


# The structure checks look at the head alone; what trains (frozen features) is the *_head_only_trains checks'
# subject, so a model left unfrozen costs those, once per model (issue #12).


def test_alexnet_structure(submission, topic, config, expect):
    # Three classes, not the two of the training data: a head hard-wired to 2 shows.
    info = images.inspect(submission, topic, "alexnet", config=config, init={"num_classes": 3})
    name = "build_alexnet(num_classes=3)"
    expect(transfer.linear_head(info, shape=(3, 4096), name=name))
    expect(checks.tensor(info["output"], name=f"{name}(x)", shape=(4, 3), dtype=torch.float32))


def test_vgg16_structure(submission, topic, config, expect):
    # From the training run: VGG16 costs seconds to build, so it is built once per side.
    run = images.fit(submission, topic, "vgg16", config=config)
    expect(transfer.linear_head(run, shape=(2, 4096), name="build_vgg16(num_classes=2)"))


def test_transforms(submission, topic, config, expect):
    size = int(images.budget(topic, "alexnet")["image_size"])
    solid, probes = transfer.solid_colours(COLOURS, size), transfer.eval_probes(size)

    def run(which, given=None):
        return images.transformed(submission, topic, "alexnet", which, config=config, images=given)

    # Train: random crops, so the shape (training images, then non-square ones) and the normalisation of one colour.
    for given in (None, *probes):
        what = "image" if given is None else f"{given.shape[1]}x{given.shape[2]} (height x width) image"
        for t in run("train", given) or [None]:
            expect(checks.tensor(t, name=f"transforms(train=True)({what})", shape=(3, size, size), dtype=torch.float32))
    tensors = run("train", solid)
    for t, colour in zip(tensors + [None] * (len(COLOURS) - len(tensors)), COLOURS, strict=False):
        expect(checks.tensor(t, name="transforms(train=True)(one-colour image)", shape=(3, size, size),
                             dtype=torch.float32))
        expect(transfer.normalised_colour(t, colour, name="transforms(train=True)"))
    # Eval: exactly the docstring's pipeline, run here on the same images (issue #12). Non-square images first: on a
    # square one, some mistakes (Resize((size, size)), Resize(size) -> CenterCrop(size)) give the same pixels.
    train_images = images.data(topic, "alexnet", data_dir=str(config.resolve(config.data_dir))).train_images[:4]
    for given in (*probes, train_images):
        expect(transfer.eval_transform_matches(run("eval", given), given, size))


def test_train_returns_losses(submission, topic, config, expect, artifacts, data_source):
    for source in images.data(topic, "alexnet", data_dir=str(config.resolve(config.data_dir))).sources:
        data_source(source)
    for variant in ("alexnet", "vgg16"):
        spec = images.build_spec(topic, variant, weights_dir=config.weights_dir)
        data_source(f"{variant}: {images.weights_source(spec)}")
    run = images.fit(submission, topic, "alexnet", config=config)
    images_artifacts.record(artifacts, run, topic, "alexnet", side="student", config=config)
    expect(images.valid_run(run, topic, "alexnet"))


def test_alexnet_head_only_trains(submission, topic, config, expect):
    run = images.fit(submission, topic, "alexnet", config=config)
    expect(images.valid_run(run, topic, "alexnet"))
    expect(images.hinted(transfer.only_head_trains(run, name="build_alexnet()"), run))


def test_evaluate(submission, topic, config, expect):
    run = images_oracle.evaluate_run(submission, topic, config=config)
    for outcome in images_oracle.evaluate_agrees(run, images_oracle.evaluate_expected(topic, config=config)):
        expect(outcome)
