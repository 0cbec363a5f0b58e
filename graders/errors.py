"""Exceptions the library raises; the CLI turns each into a one-line message and an exit code."""

from __future__ import annotations

from graders.results import Cause


class GradingError(Exception):
    """Base class: anything the harness reports to a person instead of a traceback."""

    exit_code = 2


class ConfigError(GradingError):
    """grading.yaml is missing, malformed or names something that does not exist."""

    exit_code = 3


class SubmissionError(GradingError):
    """A submission cannot be opened or normalised (broken zip, unreadable notebook...)."""

    exit_code = 4


class WorkerError(GradingError):
    """The worker process failed: it crashed, timed out or broke the protocol."""

    exit_code = 5


class WorkerTimeout(WorkerError):
    """A call or the whole submission ran past its wall-clock limit."""


class WorkerCrashed(WorkerError):
    """The worker process died (exit, signal, memory limit) before answering."""


class ProtocolError(WorkerError):
    """The worker answered with something that is not a valid message."""


class TaskFailed(GradingError):
    """Student code raised inside the worker; the message names the exception and where."""

    exit_code = 6

    def __init__(self, message: str, *, kind: Cause = "error"):
        super().__init__(message)
        self.kind: Cause = kind  # the failed check's cause: "not_implemented", "missing", "not_loaded"...


class ReportError(GradingError):
    """A report cannot be written, or the result it is built from cannot be read."""

    exit_code = 7

    def __init__(self, message: str, *, written: list | None = None):
        super().__init__(message)
        self.written = written or []  # files that were written before the failure, kept on disk


class DeliveryError(GradingError):
    """A release, a student's pack or an autograder package cannot be built (it would leak, or lacks inputs)."""

    exit_code = 8


class BatchError(GradingError):
    """A batch cannot start: the submissions folder, the reports folder or the options are unusable."""

    exit_code = 9


class ServerError(GradingError):
    """The local grading server cannot be started or reached; `grade check` then grades in its own process."""

    exit_code = 10
