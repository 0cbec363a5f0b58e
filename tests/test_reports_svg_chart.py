"""graders/reports/svg_chart.py: the loss curve as an inline SVG chart, without matplotlib (issue #14)."""

from __future__ import annotations

import math
import random
import re
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
from report_samples import sample_result

from graders.reports import feedback_html
from graders.reports.plots import render_artifacts
from graders.reports.svg_chart import (
    HEIGHT,
    MAX_POINTS,
    MAX_SERIES,
    TITLE,
    UNKNOWN_X,
    WIDTH,
    X_LABELS,
    integer_ticks,
    loss_curve_svg,
    nice_ticks,
    thinned,
    tick_labels,
)

SVG = "{http://www.w3.org/2000/svg}"
ROOT = Path(__file__).resolve().parents[1]
SAMPLE = {"x": "epoch", "student": [2.3, 1.1, 0.62, 0.41, 0.31], "reference": [2.3, 0.9, 0.5, 0.35, 0.29]}


def _chart(data: dict) -> ElementTree.Element:
    return ElementTree.fromstring(loss_curve_svg(data))  # well-formed XML, or this raises


def _group(chart: ElementTree.Element, name: str) -> ElementTree.Element:
    return next(g for g in chart.iter(f"{SVG}g") if g.get("class") == name)


def _lines(chart: ElementTree.Element) -> list[list[tuple[float, float]]]:
    return [[tuple(map(float, pair.split(","))) for pair in line.get("points", "").split()]
            for line in chart.iter(f"{SVG}polyline")]


def _y_labels(chart: ElementTree.Element) -> list[str]:
    return [t.text or "" for t in _group(chart, "ticks") if t.get("text-anchor") == "end"]


def _x_labels(chart: ElementTree.Element) -> list[str]:
    return [t.text or "" for t in _group(chart, "ticks") if t.get("text-anchor") == "middle"]


def _texts(chart: ElementTree.Element) -> list[str]:
    return [t.text or "" for t in chart.iter(f"{SVG}text")]


def test_the_chart_is_an_accessible_svg_with_a_line_per_series():
    chart = _chart(SAMPLE)
    assert chart.tag == f"{SVG}svg" and chart.get("viewBox") == f"0 0 {WIDTH} {HEIGHT}" and chart.get("role") == "img"
    assert chart[0].tag == f"{SVG}title" and chart[0].text == TITLE and TITLE in _texts(chart)
    assert chart[1].tag == f"{SVG}desc" and chart[1].text == (
        "Line chart of the training loss per epoch. yours: from 2.3 to 0.31 over 5 epochs; "
        "reference: from 2.3 to 0.29 over 5 epochs.")
    lines = list(chart.iter(f"{SVG}polyline"))
    assert [len(points) for points in _lines(chart)] == [5, 5]
    assert len({line.get("stroke") for line in lines}) == 2  # apart in colour
    assert [line.get("stroke-dasharray") for line in lines] == [None, "7 4"]  # and in greyscale: solid, dashed
    assert [t.text for t in _group(chart, "legend").iter(f"{SVG}text")] == ["yours", "reference"]
    assert "loss" in _texts(chart) and "epoch" in _texts(chart)


def test_lines_stay_inside_the_plot_area_and_fall_as_the_loss_falls():
    chart = _chart(SAMPLE)
    for points in _lines(chart):
        assert all(0 < x < WIDTH and 0 < y < HEIGHT for x, y in points)
        assert [x for x, _ in points] == sorted(x for x, _ in points)
        assert points[0][1] < points[-1][1]  # SVG's y grows downwards: a falling loss draws downwards


@pytest.mark.parametrize(("low", "high"), [
    (0.29, 2.3), (0.0, 1.0), (0.5, 0.5001), (-242.39, -153.59), (385.2521, 385.3486), (1e-7, 3e-7), (2.0, 1e6),
    (-3.0, 4.0), (0.693, 0.6931), (1e150, 1e151),
])
def test_y_ticks_are_four_to_six_nice_numbers_covering_the_range(low, high):
    ticks, step = nice_ticks(low, high)
    assert 4 <= len(ticks) <= 6 and ticks[0] <= low and ticks[-1] >= high
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert min(abs(mantissa - nice) for nice in (1, 2, 5)) < 1e-9  # a 1-2-5 step
    assert all(math.isclose(b - a, step, rel_tol=1e-6) for a, b in zip(ticks, ticks[1:], strict=False))
    assert all(math.isclose(tick / step, round(tick / step), abs_tol=1e-6) for tick in ticks)  # multiples of it


def test_y_ticks_hold_for_many_ranges():
    rng = random.Random(14)
    for _ in range(3000):
        low = rng.uniform(-5, 5) * 10 ** rng.randint(-4, 4)
        high = low + rng.uniform(1e-3, 10) * 10 ** rng.randint(-4, 4)
        ticks, step = nice_ticks(low, high)
        assert 4 <= len(ticks) <= 6 and ticks[0] <= low + step * 1e-6 and ticks[-1] >= high - step * 1e-6
        labels = tick_labels(ticks, step)
        assert len(set(labels)) == len(labels) and max(map(len, labels)) <= 14  # -5262.1305: as short as exact


def test_the_chart_labels_its_y_ticks_with_fixed_decimals():
    chart = _chart(SAMPLE)  # 0.29 .. 2.3: 0 to 2.5 in steps of 0.5
    assert _y_labels(chart) == ["0.0", "0.5", "1.0", "1.5", "2.0", "2.5"]
    assert tick_labels([1e-7, 1.5e-7, 2e-7], 5e-8) == ["1e-07", "1.5e-07", "2e-07"]
    assert tick_labels([0.0, 2e5, 4e5], 2e5) == ["0", "200000", "400000"]


@pytest.mark.parametrize(("x", "label", "unit"), [
    ("epoch", "epoch", "5 epochs"),
    ("batch", X_LABELS["batch"], "5 batches"),
    (None, UNKNOWN_X, "5 recorded points"),  # a result written before "x" existed
])
def test_the_x_axis_follows_the_artifacts_x_kind(x, label, unit):
    data = {key: value for key, value in SAMPLE.items() if key != "x"} | ({"x": x} if x else {})
    chart = _chart(data)
    assert label in _texts(chart) and f"over {unit}" in (chart[1].text or "")
    assert _x_labels(chart) == ["1", "2", "3", "4", "5"]  # whole steps only


@pytest.mark.parametrize(("count", "ticks"), [
    (1, [1]), (5, [1, 2, 3, 4, 5]), (8, list(range(1, 9))), (24, [5, 10, 15, 20]),
    (120, [20, 40, 60, 80, 100, 120]), (2000, [500, 1000, 1500, 2000]),
])
def test_x_ticks_are_whole_numbers(count, ticks):
    assert integer_ticks(count) == ticks


def test_per_model_series_get_a_colour_per_model_and_a_dash_per_line():
    data = {"x": "batch", "models": {"LeNet": {"student": [2.3] * 24, "reference": [2.2] * 24},
                                     "CifarNet": {"student": [2.3] * 120, "reference": [2.1] * 120}}}
    chart = _chart(data)
    lines = list(chart.iter(f"{SVG}polyline"))
    assert [line.findtext(f"{SVG}title") for line in lines] == [
        "LeNet, yours", "LeNet, reference", "CifarNet, yours", "CifarNet, reference"]
    assert [len(points) for points in _lines(chart)] == [24, 24, 120, 120]
    assert len({line.get("stroke") for line in lines}) == len({line.get("stroke-dasharray") for line in lines}) == 4
    assert _x_labels(chart) == ["20", "40", "60", "80", "100", "120"]
    assert _lines(chart)[0][-1][0] < _lines(chart)[2][-1][0]  # LeNet's 24 batches end left of CifarNet's 120


def test_a_hostile_model_name_is_escaped():
    name = '<script>"x"</script>&'
    svg = loss_curve_svg({"models": {name: {"student": [1.0, 0.5]}, "b": {"student": [1.0, 0.4]}}})
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    chart = ElementTree.fromstring(svg)
    assert [t.text for t in _group(chart, "legend").iter(f"{SVG}text")] == [f"{name}, yours", "b, yours"]
    assert f"{name}, yours: from 1 to 0.5" in (chart[1].text or "")
    result = sample_result()
    result.topics[1].artifacts = {"loss_curve": {"models": {name: {"student": [1.0, 0.5]}}}}
    assert "<script>" not in feedback_html(result)


def test_a_long_label_is_cut_in_the_legend_and_kept_whole_in_the_description():
    name = "m" * 80
    chart = _chart({"models": {name: {"student": [1.0, 0.5]}}})
    [label] = [t.text or "" for t in _group(chart, "legend").iter(f"{SVG}text")]
    assert len(label) == 30 and label.endswith("…") and name in (chart[1].text or "")


def test_values_that_are_not_finite_are_left_out_and_counted():
    nan, inf = float("nan"), float("inf")
    chart = _chart({"x": "batch", "student": [2.0, nan, 1.5, inf, 1.0, -inf], "reference": [2.0, 1.0]})
    first, second = _lines(chart)
    assert len(first) == 3 and len(second) == 2
    assert "yours: from 2 to 1 over 6 batches (3 not finite, left out)" in (chart[1].text or "")
    labels = [float(label) for label in _y_labels(chart)]
    assert labels[0] <= 1.0 and labels[-1] >= 2.0 and "nan" not in loss_curve_svg({"student": [nan, 1.0]}).lower()


def test_a_series_with_no_finite_value_is_described_beside_one_that_has():
    chart = _chart({"student": [float("nan")] * 3, "reference": [1.0, 0.5]})
    assert [len(points) for points in _lines(chart)] == [0, 2]
    assert "yours: no finite value over 3 recorded points" in (chart[1].text or "")


@pytest.mark.parametrize("values", [[0.7], [0.7, 0.7, 0.7], [0.0, 0.0], [-1.5], [1e-15, 1e-15], [1e6] * 4])
def test_one_point_and_constant_series_get_a_proper_axis(values):
    chart = _chart({"x": "epoch", "student": values})
    [points] = _lines(chart)
    assert len(points) == len(values) and len({y for _, y in points}) == 1
    labels = [float(label) for label in _y_labels(chart)]
    assert 4 <= len(labels) <= 6 and labels[0] < values[0] < labels[-1]  # the value inside, not on an edge
    markers = _group(chart, "markers")
    assert len(markers) == len(values)  # a marker on each point: a one-point line shows as a dot
    if len(values) == 1:
        assert _x_labels(chart) == ["1"] and points[0][0] == pytest.approx(float(markers[0].get("cx") or 0))


def test_long_series_are_thinned_keeping_their_spikes():
    values = [2.0 - i / 2000 for i in range(2000)]
    values[1234] = 9.0  # one bad batch
    [points] = _lines(_chart({"x": "batch", "student": values}))
    assert len(points) == MAX_POINTS
    top, second = sorted(y for _, y in points)[:2]
    assert top < 60 and second > 190  # the spike, drawn at 9 near the top; the rest of the line below 2
    kept = thinned(values)
    assert len(kept) == MAX_POINTS and (1235, 9.0) in kept and kept == sorted(kept)
    assert thinned([1.0] * 1000) == sorted(thinned([1.0] * 1000)) and len(thinned([1.0] * 1000)) == MAX_POINTS


def test_series_beyond_the_limit_are_told_not_drawn():
    models = {f"m{i}": {"student": [1.0, 0.5]} for i in range(MAX_SERIES + 3)}
    chart = _chart({"models": models})
    assert len(_lines(chart)) == MAX_SERIES and "3 more series not drawn" in (chart[1].text or "")


def test_the_legend_takes_the_corner_the_lines_leave_free():
    falling, rising = _chart({"student": [3.0, 2.0, 1.0, 0.5]}), _chart({"student": [0.5, 1.0, 2.0, 3.0]})
    box = [next(_group(chart, "legend").iter(f"{SVG}rect")) for chart in (falling, rising)]
    assert float(box[0].get("x") or 0) > WIDTH / 2 and float(box[0].get("y") or 0) < HEIGHT / 2  # upper right
    assert float(box[1].get("x") or 0) < WIDTH / 2  # a rising line takes the upper right: upper left


def test_the_output_is_deterministic_with_fixed_precision():
    data = {"x": "batch", "student": [1 / 3 + math.sin(i) / 7 for i in range(200)], "reference": [0.5] * 200}
    svg = loss_curve_svg(data)
    assert svg == loss_curve_svg(data)
    numbers = re.findall(r'\s(?:x|y|x1|x2|y1|y2|cx|cy|width|height)="([^"]*)"', svg)
    coordinates = re.findall(r"points=\"([^\"]*)\"", svg)[0].replace(",", " ").split()
    assert all(re.fullmatch(r"-?\d+(\.\d)?", number) for number in numbers + coordinates)


@pytest.mark.parametrize("data", [
    {},  # neither side
    {"student": [], "reference": None},
    {"student": ["falling"]},
    {"student": [None, 1.0]},
    {"student": [float("nan"), float("inf")]},  # nothing finite to draw
    {"student": [1e300, -1e300]},  # no linear axis spans that
    {"student": [10**400]},  # an integer no float holds
    {"models": [["LeNet"]]},
    {"models": {"LeNet": [1.0, 2.0]}},
    {"x": ["batch"], "student": [1.0]},
    "a string",
    [1.0, 0.5],
])
def test_a_malformed_loss_curve_is_reported_not_raised(data):
    [plot] = render_artifacts({"loss_curve": data})
    assert plot.error and not plot.html
    result = sample_result()
    result.topics[1].artifacts = {"loss_curve": data}
    html = feedback_html(result)
    assert "Loss curve could not be drawn (" in html and "<svg" not in html


def test_drawing_the_page_imports_no_matplotlib():
    code = ("import sys; sys.path.insert(0, 'tests'); from report_samples import sample_result; "
            "from graders.reports import feedback_html; html = feedback_html(sample_result(), audience='instructor'); "
            "assert '<svg' in html; print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
