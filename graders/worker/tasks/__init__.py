"""Named tasks the grader may ask of a student module inside the worker; plain data in, plain data out.

Importing the package registers every task. The registry and the helpers the task modules share live in
base.py, so that a task module never imports this package back while it is being initialised.
"""

from graders.worker.tasks import images, regression  # noqa: F401  (importing them registers their tasks)
from graders.worker.tasks.base import TASKS, InvalidOutput, MissingName, floats, need, seed_everything, task, tensor

__all__ = ["TASKS", "InvalidOutput", "MissingName", "floats", "need", "seed_everything", "task", "tensor"]
