"""Batch reports: gradebook.csv and summary.html."""

from __future__ import annotations

import base64
import csv
import io
import re

from report_samples import assert_golden, sample_batch, strip_images

from graders.batch.progress import closing_lines, is_failure
from graders.reports import gradebook_csv, summary_html, write_batch_reports
from graders.reports.summary import batch_counts


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


def test_summary_and_terminal_agree_on_every_count():
    """Issue #13: summary.html and `grade batch`'s last lines give the same counts, from one function."""
    bob, carol, dave = sample_batch()[1:]  # graded in full, failed to load, graded with zero points
    eve = sample_batch()[1]
    eve.submission = "eve_hw1.zip"
    eve.topics[0].checks[0].passed, eve.topics[0].checks[0].cause = False, "worker"  # a check lost to the worker
    batch = [bob, carol, dave, eve]
    for topic in bob.topics + eve.topics:
        topic.notes = []  # bob then needs no look at all
    counts = batch_counts(batch)
    assert (counts.submissions, counts.graded, counts.failed_to_load, counts.not_graded, counts.to_look_at) == (
        4, 3, 1, 0, 3)
    html = summary_html(batch)
    assert f"{counts.text()};" in html or f"{counts.text()}." in html
    assert "4 submissions, 3 graded, 1 failed to load, 3 to look at" in html
    terminal = closing_lines(batch, graded_now=3, reused=1, duration_s=12.0, listed=True)
    assert terminal[0].startswith("4 submissions, 3 graded, 1 failed to load, 3 to look at; 3 graded now")
    looked_at = html.split("Needs a human look")[1].split("<h2>")[0]
    assert looked_at.count("<tr><td>") == len(terminal) - 1 == counts.to_look_at  # the same rows, listed
    assert "lost to a worker crash or timeout" in looked_at and "eve_hw1.zip: 1 check lost" in terminal[-1]
    assert sum(is_failure(r) for r in batch) == counts.to_look_at  # the progress bar's count too
