"""Public checks for topic 1, linear regression: run them with `grade check linear_regression`.

Topics 1-3 share their checks (graders/families/regression_public.py); the numbers per topic are in
graders/families/regression.py (FAMILY).
"""

from graders.families.regression_public import (  # noqa: F401 - pytest collects them from here
    test_loss_decreases,
    test_model_structure,
    test_predict_no_grad,
    test_train_returns_losses,
)
