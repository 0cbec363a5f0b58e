"""Entry point of the worker process: `python -I -m graders.worker SPEC_JSON`."""

import sys

from graders.worker.runner import main

sys.exit(main(sys.argv))
