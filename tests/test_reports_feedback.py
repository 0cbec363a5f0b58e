"""feedback.md and feedback.html: what students see, and a self-contained page with an SVG loss curve, table
heatmaps for the confusion matrices and real PNGs for the misclassified examples (issue #14)."""

from __future__ import annotations

import base64
import io
import math
import shutil
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
import torch
from PIL import Image
from report_samples import DEFERRED_SECRETS, HIDDEN_SECRETS, assert_golden, sample_batch, sample_result, strip_images

from graders.config import load_config
from graders.errors import ReportError
from graders.families import images
from graders.families.images_artifacts import held_out, record
from graders.grading.context import TopicContext
from graders.grading.session import grade_submission
from graders.reports import feedback_html, feedback_md
from graders.reports.artifact_html import MAX_MISCLASSIFIED, confusion_table_html, example_png, misclassified_html
from graders.reports.plots import render_artifacts
from graders.reports.svg_chart import loss_curve_svg, loss_series

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SVG = "{http://www.w3.org/2000/svg}"
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class _Heatmap:
    """One <table class="heatmap">, as text: entities decoded, as a browser shows it."""

    caption: str = ""
    columns: list[str] = field(default_factory=list)  # <th scope="col">, the corner cell left out
    rows: list[str] = field(default_factory=list)  # <th scope="row">
    counts: list[list[str]] = field(default_factory=list)  # the <td>s of each row
    styles: list[list[str]] = field(default_factory=list)  # and their style attributes


class _Page(HTMLParser):
    """Collects what the tests look at: image sources and alt texts, external references, tags (an inline SVG's
    included: "svg", "polyline"), heatmap tables."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.alts: list[str] = []
        self.external: list[str] = []
        self.tags: list[str] = []
        self.heatmaps: list[_Heatmap] = []
        self._heatmap: _Heatmap | None = None
        self._cell: tuple[str, dict, list[str]] | None = None  # tag, attributes, text so far

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        values = dict(attrs)
        if tag == "img":
            self.images.append(values.get("src") or "")
            self.alts.append(values.get("alt") or "")
        for key in ("href", "src"):
            if key in values and not (values[key] or "").startswith("data:"):
                self.external.append(values[key])
        if tag == "table" and "heatmap" in (values.get("class") or "").split():
            self._heatmap = _Heatmap()
            self.heatmaps.append(self._heatmap)
        elif self._heatmap is not None and tag in ("caption", "th", "td"):
            self._cell = (tag, values, [])

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[2].append(data)

    def handle_endtag(self, tag):
        if tag == "table":
            self._heatmap = None
        if self._heatmap is None or self._cell is None or tag != self._cell[0]:
            return
        (kind, values, text), self._cell, table = self._cell, None, self._heatmap
        if kind == "caption":
            table.caption = "".join(text)
        elif kind == "th" and values.get("scope") == "col" and values.get("class") != "corner":
            table.columns.append("".join(text))
        elif kind == "th" and values.get("scope") == "row":
            table.rows.append("".join(text))
            table.counts.append([])
            table.styles.append([])
        elif kind == "td":
            table.counts[-1].append("".join(text))
            table.styles[-1].append(values.get("style") or "")


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


@pytest.fixture(scope="module")
def student_html() -> str:
    return feedback_html(sample_result(), audience="student")  # drawing plots is the slow part: once


def _png(src: str) -> bytes:
    assert src.startswith("data:image/png;base64,")
    png = base64.b64decode(src.split(",", 1)[1], validate=True)
    assert png.startswith(PNG_MAGIC)
    return png


def test_html_is_self_contained_and_draws_its_plots_without_images(student_html):
    page = _parse(student_html)
    assert page.external == [] and "script" not in page.tags
    assert page.images == []  # misclassified examples, the only images, are the instructor's
    # The loss curve is an inline SVG chart (issue #14): a line for the student's run and one for the reference.
    assert page.tags.count("svg") == 1 and page.tags.count("polyline") == 2
    assert '<figure class="loss_curve"><svg ' in student_html
    # The confusion matrix is a table: its counts are text (issue #14), rows true, columns predicted.
    [table] = page.heatmaps
    assert table.columns == table.rows == ["0", "1", "2"] and "true label" in table.caption
    assert table.counts == [["50", "2", "1"], ["3", "45", "4"], ["0", "6", "40"]]


def test_student_html_hides_hidden_and_withheld_details(student_html):
    text = strip_images(student_html)
    for secret in HIDDEN_SECRETS + DEFERRED_SECRETS:
        assert secret not in text
    assert "dtype preserved" in text  # the deferred check is listed by name and verdict
    assert "2 hidden checks worth 5 points" in text


@pytest.mark.parametrize("audience", ["student", "instructor"])
def test_markdown_visibility(audience):
    text = feedback_md(sample_result(), audience=audience)
    shown = [secret in text for secret in HIDDEN_SECRETS[:3] + DEFERRED_SECRETS]
    assert all(shown) if audience == "instructor" else not any(shown)
    if audience == "student":
        assert not any(secret in text for secret in HIDDEN_SECRETS)


def test_feedback_lists_figures_hints_data_and_notes():
    text = feedback_md(sample_result())
    assert "| 1.2 | normalize values | **failed** | 0.5 / 2 | 0.1307 | 0.01 |" in text
    assert "Hint: Move .to(device) out of the training loop." in text
    assert "MNIST (built-in stand-in: 512 synthetic digits)" in text
    assert "notebook cell 7 skipped" in text


def test_a_feedback_only_check_shows_its_advice_without_points():
    text = feedback_md(sample_result())
    assert "| 2.5 | predict no grad | **failed** | feedback only |  |  |" in text
    assert "**2.5 predict no grad:** (feedback only, no points) predict() ran" in text
    assert "A multilayer perceptron on MNIST — 3 / 4 points" in text  # its failure costs nothing


def test_student_strings_cannot_inject_markup():
    result = sample_result("<script>alert(1)</script>.zip")
    result.topics[0].checks[1].message = "<img src=x onerror=alert(1)>"
    html = strip_images(feedback_html(result))
    assert "<script>" not in html and "<img src=x" not in html
    assert "<script>" not in feedback_md(result)


def test_a_malformed_artifact_becomes_a_note_not_a_crash():
    result = sample_result()
    result.topics[1].artifacts = {"confusion_matrix": {"labels": ["a"], "matrix": [[1, 2]]}}
    html = feedback_html(result)
    assert "Confusion matrix could not be drawn" in html and "<img" not in html and '<table class="heatmap' not in html


def test_unknown_audience_is_a_report_error():
    with pytest.raises(ReportError, match="unknown audience"):
        feedback_md(sample_result(), audience="everyone")


@pytest.mark.parametrize("audience", ["student", "instructor"])
def test_markdown_matches_golden(audience, update_goldens):
    assert_golden(f"feedback.{audience}.md", feedback_md(sample_result(), audience=audience), update_goldens)


def test_html_matches_golden_apart_from_image_bytes(student_html, update_goldens):
    assert_golden("feedback.student.html", strip_images(student_html), update_goldens)


def test_unloadable_submission_explains_why():
    result = sample_batch()[2]
    assert "Not graded (failed to load):** SyntaxError in hw1.py line 12" in feedback_md(result)
    assert "SyntaxError in hw1.py line 12" in feedback_html(result)


def test_a_topic_not_submitted_states_its_reason_once():
    result = sample_result()
    topic = result.topics[0]
    topic.status, topic.reason = "not submitted", "no 01_tensors/tensors.py"
    for check in topic.checks:
        check.passed, check.points, check.message = False, 0.0, "the submission has no 01_tensors/tensors.py"
    for text in (feedback_md(result, audience="instructor"), feedback_html(result, audience="instructor")):
        assert text.count("no 01_tensors/tensors.py") == 1


def test_a_timed_out_submission_keeps_its_points_and_says_why():
    result = sample_result()
    result.status, result.reason = "timed out", "the submission's time limit (600 s) was used up"
    md, html = feedback_md(result, audience="instructor"), feedback_html(result, audience="instructor")
    assert "**Stopped at the time limit (timed out):** the submission's time limit (600 s) was used up" in md
    assert "Stopped at the time limit (timed out):</strong> the submission&#x27;s time limit" in html
    assert "Not graded" not in md + html and "**Score: 6.5 / 13 points**" in md  # the checks that ran count


def test_a_topic_that_did_not_load_lists_its_checks_as_not_run_and_says_why_once():
    result = sample_result()
    topic = result.topics[0]
    topic.status, topic.reason = "failed to load", "SyntaxError at tensors.py line 3: invalid syntax"
    for check in topic.checks:
        check.passed, check.points, check.cause = False, 0.0, "not_loaded"
        check.message, check.hint = "not run: the module could not be loaded", ""
    text, page = feedback_md(result), feedback_html(result)
    for rendered in (text, page):
        assert rendered.count("SyntaxError at tensors.py line 3") == 1
        assert "not run" in rendered and "learning rate" not in rendered
    assert '<tr class="not-run">' in page  # one class name per row, not two


# -- issue #13: plots people can act on --------------------------------------------------------------------------

def _fake_fit(topic, variant, seed: int) -> dict:
    """A fit result shaped like the worker's: one criterion call per batch, as images.batches expects."""
    b = images.budget(topic, variant)
    calls = int(b["epochs"]) * math.ceil(int(b["n_train"]) / int(b["batch_size"]))
    gen = torch.Generator().manual_seed(seed)
    rows = int(b["batch_size"])
    return {"criterion": {"calls": calls, "logits": [torch.randn(rows, 10, generator=gen) for _ in range(calls)],
                          "targets": [torch.randint(0, 10, (rows,), generator=gen) for _ in range(calls)]}}


def _topic(name: str):
    config = load_config(ROOT / "grading.yaml")
    return TopicContext.of(config, name), config


def test_topic_5_loss_curve_counts_batches_and_labels_each_model():
    topic, _ = _topic("cnn")
    artifacts: dict = {}
    for number, variant in enumerate(("lenet", "cifarnet")):
        for side in ("student", "reference"):
            record(artifacts, _fake_fit(topic, variant, 2 * number + (side == "reference")), topic, variant, side=side)
    xlabel, series = loss_series(artifacts["loss_curve"])
    assert xlabel.startswith("batch") and "not epochs" in xlabel
    assert [s.label for s in series] == ["LeNet, yours", "LeNet, reference", "CifarNet, yours", "CifarNet, reference"]
    # Each line its own colour (a hue per model, the reference's darker) and dash pattern, to read in greyscale.
    assert len({s.colour for s in series}) == len({s.dash for s in series}) == 4
    assert [s.marker for s in series] == ["circle", "square"] * 2  # the side by marker too
    chart = ElementTree.fromstring(loss_curve_svg(artifacts["loss_curve"]))
    assert xlabel in [text.text for text in chart.iter(f"{SVG}text")]
    legend = next(g for g in chart.iter(f"{SVG}g") if g.get("class") == "legend")
    assert [text.text for text in legend.iter(f"{SVG}text")] == [s.label for s in series]


@pytest.mark.parametrize(("data", "expected"), [
    ({"x": "epoch", "student": [3.0, 2.0]}, "epoch"),
    ({"student": [3.0, 2.0]}, "recorded point (epoch or batch: not recorded)"),  # a result written before "x"
])
def test_loss_curve_axis_of_topics_1_to_3_and_of_older_results(data, expected):
    xlabel, series = loss_series(data)
    assert xlabel == expected and [s.label for s in series] == ["yours"]


def test_recording_plot_material_never_raises():

    topic, config = _topic("cnn")
    artifacts: dict = {}
    for run in (None, {}, {"criterion": "garbage", "predictions": [1, 2]}):
        record(artifacts, run, topic, "lenet", side="student", config=config)
    assert "models" not in artifacts.get("loss_curve", {})
    assert not any(key.startswith(("confusion_matrix", "misclassified")) for key in artifacts)


def test_confusion_matrix_is_scored_with_the_harness_labels():
    topic, config = _topic("deep_neural_network")
    labels = images.data(topic, "classifier").eval_labels
    wrong = (labels + 1) % 10
    # The worker's predictions of the course's eval transform win over those of the student's own transform.
    found = held_out({"predictions": labels.clone(), "harness_predictions": wrong}, topic, "classifier",
                     config=config)
    assert found is not None
    matrix, examples = found
    counts = torch.tensor(matrix["matrix"])
    assert matrix["predictions"] == "harness_predictions" and int(counts.sum()) == len(labels)
    assert int(counts.trace()) == 0 and len(examples) == 8
    assert all(int(e["predicted"]) == (int(e["label"]) + 1) % 10 for e in examples)
    assert held_out({"predictions": torch.full_like(labels, 99)}, topic, "classifier", config=config) is None


def test_per_model_artifacts_are_titled_with_their_model():
    artifacts = {"confusion_matrix/LeNet": {"labels": ["0", "1"], "matrix": [[3, 1], [0, 4]]},
                 "confusion_matrix/CifarNet": {"labels": ["cat", "dog"], "matrix": [[2, 2], [1, 3]]},
                 "misclassified/CifarNet": [{"image": [[0, 255], [255, 0]], "predicted": "dog", "label": "cat"}]}
    plots = render_artifacts(artifacts)
    assert [p.title for p in plots] == ["Confusion matrix: LeNet", "Confusion matrix: CifarNet",
                                        "Misclassified examples: CifarNet"]
    assert all(p.html and not p.error for p in plots)  # HTML fragments, drawn without matplotlib


# -- issue #14: confusion matrices as tables, misclassified examples as small PNGs, no matplotlib --------------

def _heatmap(fragment: str) -> _Heatmap:
    [table] = _parse(fragment).heatmaps
    return table


def test_the_confusion_table_holds_the_matrix_counts_with_a_blue_ramp():
    matrix = [[8, 0, 1], [2, 5, 0], [0, 4, 3.5]]
    table = _heatmap(confusion_table_html({"labels": ["cat", "dog", "eel"], "matrix": matrix}))
    assert table.columns == table.rows == ["cat", "dog", "eel"]
    assert table.counts == [["8", "0", "1"], ["2", "5", "0"], ["0", "4", "3.5"]]
    assert table.styles[0][0] == "background:#08306b;color:#fff"  # the largest count: the dark end, white text
    assert table.styles[0][1] == "background:#f7fbff;color:#000"  # zero: the light end, black text
    assert table.styles[1][1].endswith("color:#fff") and table.styles[2][2].endswith("color:#000")  # 5 > 4 >= 3.5


def test_the_confusion_table_keeps_every_count_of_a_large_matrix():
    labels = [f"class {i}" for i in range(20)]  # the PNG dropped its numbers beyond 12 labels
    matrix = [[(i * 20 + j) % 7 for j in range(20)] for i in range(20)]
    table = _heatmap(confusion_table_html({"labels": labels, "matrix": matrix}))
    assert table.rows == table.columns == labels
    assert [[int(n) for n in row] for row in table.counts] == matrix


def test_confusion_labels_are_escaped():
    fragment = confusion_table_html({"labels": ["<b>", "a&b"], "matrix": [[1, 0], [0, 1]]})
    assert "<b>" not in fragment and "&lt;b&gt;" in fragment and "a&amp;b" in fragment
    assert _heatmap(fragment).columns == ["<b>", "a&b"]


@pytest.mark.parametrize("data", [
    {"labels": ["a", "b"], "matrix": [[1, 2, 3], [4, 5, 6]]},  # not square
    {"labels": ["a"], "matrix": [[1, 2], [3, 4]]},  # one label short
    {"labels": ["a", "b"], "matrix": [[1, "many"], [3, 4]]},  # not a number
    {"labels": ["a", "b"], "matrix": [[1, float("nan")], [3, 4]]},
    {"labels": ["a", "b"], "matrix": 7},
    {"matrix": []},
    ["not", "a", "dict"],
])
def test_a_malformed_confusion_matrix_is_reported_not_raised(data):
    [plot] = render_artifacts({"confusion_matrix/LeNet": data})
    assert plot.error and not plot.html
    result = sample_result()
    result.topics[1].artifacts = {"confusion_matrix/LeNet": data}
    html = feedback_html(result)
    assert "Confusion matrix: LeNet could not be drawn (" in html and '<table class="heatmap' not in html


@pytest.mark.parametrize(("shape", "size", "mode"), [
    ((28, 28), (84, 84), "L"),  # MNIST at 3x
    ((32, 32, 3), (96, 96), "RGB"),  # CIFAR-10 at 3x
    ((64, 48, 3), (96, 128), "RGB"),  # topic 6's, 2x: the short side reaches 84 px
    ((3, 3), (84, 84), "L"),
])
def test_misclassified_images_are_pngs_upscaled_by_nearest_neighbour(shape, size, mode):
    pixels = torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    png, width, height = example_png(pixels.tolist())
    assert png.startswith(PNG_MAGIC) and (width, height) == size
    image = Image.open(io.BytesIO(png))
    assert image.size == size and image.mode == mode and not image.info  # no text, time or dpi chunks
    scale = size[0] // shape[1]
    shown = np.array(image)
    assert (shown == np.repeat(np.repeat(pixels.numpy(), scale, axis=0), scale, axis=1)).all()  # crisp squares
    assert example_png(pixels.tolist())[0] == png  # deterministic


def test_the_misclassified_grid_has_one_captioned_png_per_example():
    items = [{"image": [[0, 255], [255, 0]], "predicted": "<dog>", "label": "cat"}] * (MAX_MISCLASSIFIED + 4)
    fragment = misclassified_html(items)
    page = _parse(fragment)
    assert len(page.images) == MAX_MISCLASSIFIED and all(_png(src) for src in page.images)
    assert page.alts == ["predicted <dog>, label cat"] * MAX_MISCLASSIFIED
    assert fragment.count("<figcaption>predicted &lt;dog&gt; / label cat</figcaption>") == MAX_MISCLASSIFIED
    assert 'class="examples"' in fragment and "<dog>" not in fragment


@pytest.mark.parametrize("image", [
    [[[1, 2, 3, 4]]],  # four channels
    [[[[1]]]],  # four dimensions
    [1, 2, 3],  # one dimension
    [[0, 300]],  # not uint8
    [[0, 1], [2]],  # ragged
    "pixels",
])
def test_a_bad_misclassified_image_is_reported_not_raised(image):
    artifacts = {"misclassified/LeNet": [{"image": [[0]], "predicted": 1, "label": 2},
                                         {"image": image, "predicted": 1, "label": 2}]}
    [plot] = render_artifacts(artifacts)
    assert plot.error and not plot.html
    result = sample_result()
    result.topics[1].artifacts = artifacts
    html = feedback_html(result, audience="instructor")
    assert "Misclassified examples: LeNet could not be drawn (" in html and "<img" not in html


@pytest.fixture(scope="module")
def graded_dnn():
    """Topic 4's reference solution graded for real (public checks only, about 10 s)."""
    return grade_submission(ROOT / "solutions", config=load_config(ROOT / "grading.yaml"),
                            topics=["deep_neural_network"])


@pytest.mark.slow
def test_a_graded_image_topic_shows_its_confusion_matrix_and_misclassified_examples(graded_dnn):
    topic = graded_dnn.topics[0]
    assert topic.artifacts["loss_curve"]["x"] == "batch"
    matrix = topic.artifacts["confusion_matrix/Classifier"]
    n_eval = int(_topic("deep_neural_network")[0].budget["n_eval"])
    assert sum(map(sum, matrix["matrix"])) == n_eval and matrix["labels"] == [str(d) for d in range(10)]
    html = feedback_html(graded_dnn, audience="instructor")
    page = _parse(html)
    examples = topic.artifacts["misclassified/Classifier"]
    assert len(page.images) == len(examples)  # one image per misclassified example; the loss curve is an SVG
    assert page.alts == [f"predicted {e['predicted']}, label {e['label']}" for e in examples]
    lines = len(loss_series(topic.artifacts["loss_curve"])[1])  # the student's run (public checks: no reference)
    assert page.tags.count("svg") == 1 and page.tags.count("polyline") == lines >= 1
    assert all(_png(src) for src in page.images)
    for title in ("Confusion matrix: Classifier", "Misclassified examples: Classifier"):
        assert f"<figcaption>{title}" in html
    [table] = page.heatmaps
    assert [[float(n) for n in row] for row in table.counts] == matrix["matrix"]
    assert "Held-out images, correct per class: 0 " in html
    md = feedback_md(graded_dnn, audience="instructor")
    assert "**Confusion matrix (Classifier):** held-out images, correct per class" in md
    assert "**Misclassified examples (Classifier):**" in md


@pytest.mark.slow
def test_students_see_no_held_out_image_with_its_label(graded_dnn):
    # a model wrong on purpose, resubmitted, would otherwise collect the held-out labels a few at a time
    html, md = feedback_html(graded_dnn, audience="student"), feedback_md(graded_dnn, audience="student")
    assert "Confusion matrix: Classifier" in html and "Misclassified" not in html and "Misclassified" not in md
    page = _parse(html)
    assert page.images == [] and page.tags.count("svg") == 1 and len(page.heatmaps) == 1


@pytest.mark.slow
def test_chromium_renders_the_plots_of_a_graded_topic(graded_dnn, tmp_path):
    browser = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)),
                   None)
    if browser is None:
        pytest.skip("no headless Chromium installed")
    page = tmp_path / "feedback.html"
    page.write_text(feedback_html(graded_dnn, audience="instructor"), encoding="utf-8")
    # The DOM after layout: every image decoded to a non-zero width shows it rendered, not a broken icon; the
    # heatmap's cells laid out with a width, as many as the matrix has counts; the loss curve's SVG laid out with
    # a width and a height, and its lines with a box of their own.
    script = ("<script>document.title=[...document.images].map(i=>i.naturalWidth).join(',')+';'+"
              "[...document.querySelectorAll('table.heatmap td')].filter(c=>c.offsetWidth>0).length+';'+"
              "[...document.querySelectorAll('svg.chart')].map(s=>{const r=s.getBoundingClientRect();"
              "return [r.width,r.height].map(Math.round).join('x')}).join(',')+';'+"
              "[...document.querySelectorAll('svg.chart polyline')].filter(l=>l.getBBox().width>0).length</script>")
    page.write_text(page.read_text(encoding="utf-8").replace("</body>", script + "</body>"), encoding="utf-8")
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=60).stdout
    images, cells, charts, lines = dom.split("<title>", 1)[1].split("</title>", 1)[0].split(";")
    widths = images.split(",")
    assert len(widths) == len(graded_dnn.topics[0].artifacts["misclassified/Classifier"])
    assert all(int(w) > 0 for w in widths) and int(cells) == 100  # ten classes
    [chart] = charts.split(",")
    width, height = map(int, chart.split("x"))
    assert 300 <= width <= 560 and height == round(width * 280 / 480)  # scaled to its column, in proportion
    assert int(lines) == len(loss_series(graded_dnn.topics[0].artifacts["loss_curve"])[1]) >= 1  # each line drawn
