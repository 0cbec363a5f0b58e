"""Hidden checks for topic 1: fit quality against the reference, zero_grad, cross-checks, determinism, time.

Topics 1-3 share their checks (hidden_tests/regression_family.py).
"""

from regression_family import (  # noqa: F401 - pytest collects them from here
    test_deterministic,
    test_model_with_harness_loop,
    test_training_time,
    test_zero_grad,
)
from regression_family import test_quality as test_fit_quality  # noqa: F401
