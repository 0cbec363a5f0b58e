#!/usr/bin/env bash
# Grade this repository the way the course's GitHub Actions workflow does; it runs the same on a laptop.
#
#   MIN_SCORE       fail below this score: points ("6") or a percentage ("60%"); default 0
#   INSTRUCTOR_DIR  a checkout of the instructor's course (grading.yaml, hidden_tests/, solutions/):
#                   when set, the hidden tests run too (reports still show students only what they may see)
#   SUBMISSION      the code to grade (default: assignments)
#   REPORTS_DIR     where the student-facing reports go (default: reports)
#   GRADE, PYTHON   the commands to run (default: grade, python3)
#   GITHUB_STEP_SUMMARY  set by GitHub Actions: the score table is appended to it
set -uo pipefail

GRADE="${GRADE:-grade}"
PYTHON="${PYTHON:-python3}"
MIN_SCORE="${MIN_SCORE:-0}"
SUBMISSION="${SUBMISSION:-assignments}"
REPORTS_DIR="${REPORTS_DIR:-reports}"

# The canonical result.json (and, with hidden tests, the instructor's view) never lands in the
# repository or its artifacts: grade into a private folder, then render the students' reports.
private="$(mktemp -d)"
trap 'rm -rf "$private"' EXIT

name="${GITHUB_REPOSITORY:-$(basename "$PWD")}"
args=("$SUBMISSION" --out "$private" --name "${name##*/}")
if [ -n "${INSTRUCTOR_DIR:-}" ]; then
  args+=(--hidden --config "$INSTRUCTOR_DIR/grading.yaml")
fi
# With hidden tests, `grade submission` prints the instructor's view: keep it out of the public log.
"$GRADE" submission "${args[@]}" >"$private/grade.log"
status=$?
# Its last line names the private folder, gone when this script exits: the reports line comes below instead.
[ -z "${INSTRUCTOR_DIR:-}" ] && grep -v '^reports: ' "$private/grade.log"
if [ ! -f "$private/result.json" ]; then
  echo "::error::grading did not finish (exit code $status)"
  [ "$status" -eq 0 ] && status=1
  exit "$status"
fi

"$GRADE" report "$private/result.json" --audience student \
  --format md --format html --format junit --out "$REPORTS_DIR" >/dev/null || exit $?
echo "reports: $REPORTS_DIR"

if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  "$PYTHON" -m graders.delivery.autograder ci-summary "$private/result.json" --min-score "$MIN_SCORE" \
    --summary "$GITHUB_STEP_SUMMARY"
  status=$?
  printf '\n<details><summary>Feedback</summary>\n\n' >>"$GITHUB_STEP_SUMMARY"
  cat "$REPORTS_DIR/feedback.md" >>"$GITHUB_STEP_SUMMARY"
  printf '\n</details>\n' >>"$GITHUB_STEP_SUMMARY"
  exit "$status"
fi
exec "$PYTHON" -m graders.delivery.autograder ci-summary "$private/result.json" --min-score "$MIN_SCORE"
