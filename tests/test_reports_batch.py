"""Batch reports: gradebook.csv and summary.html."""

from __future__ import annotations

import base64
import csv
import io
import re

from report_samples import assert_golden, sample_batch, strip_images

from graders.reports import gradebook_csv, summary_html, write_batch_reports


def test_gradebook_has_one_row_per_submission():
    rows = list(csv.DictReader(io.StringIO(gradebook_csv(sample_batch()))))
    assert [r["submission"] for r in rows] == ["alice_hw1.zip", "bob_hw1.zip", "carol_hw1.zip", "dave_hw1.zip"]
    alice, _, carol, _ = rows
    # alice fails the feedback-only "predict no grad" (0 points): it changes neither her points nor the maximum
    assert (alice["01_tensors"], alice["03_mlp"], alice["total"], alice["max"]) == ("3.5", "3", "6.5", "13")
    assert (carol["01_tensors"], carol["max"], carol["status"]) == ("", "13", "failed to load")
    assert carol["reason"] == "SyntaxError in hw1.py line 12"


def test_gradebook_defuses_spreadsheet_formulas():
    batch = sample_batch()
    batch[2].submission = '=HYPERLINK("http://x")'
    text = gradebook_csv(batch)
    assert "'=HYPERLINK" in text


def test_gradebook_matches_golden(update_goldens):
    assert_golden("gradebook.csv", gradebook_csv(sample_batch()), update_goldens)


def test_summary_is_self_contained_with_the_four_sections(update_goldens):
    html = summary_html(sample_batch())
    sources = re.findall(r'src="([^"]*)"', html)
    assert len(sources) == 3  # two topics and the total
    for src in sources:
        assert base64.b64decode(src.removeprefix("data:image/png;base64,")).startswith(b"\x89PNG")
    for heading in ("Score distribution", "Most failed checks", "Grading time per submission", "Needs a human look"):
        assert f"<h2>{heading}</h2>" in html
    look = html.split("Needs a human look")[1]
    assert "failed to load: SyntaxError" in look and "zero points" in look
    assert_golden("summary.html", strip_images(html), update_goldens)


def test_write_batch_reports(tmp_path):
    paths = write_batch_reports(sample_batch(), tmp_path, formats=["csv"])
    assert paths == [tmp_path / "gradebook.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gradebook.csv"]


def test_a_timed_out_submission_counts_among_the_graded_and_needs_a_look():
    batch = sample_batch()
    batch[0].status, batch[0].reason = "timed out", "the submission's time limit (600 s) was used up"
    html = summary_html(batch)
    assert "4 submissions, 3 graded" in html  # carol failed to load; alice's points up to the limit stand
    assert "timed out: the submission&#x27;s time limit" in html.split("Needs a human look")[1]
