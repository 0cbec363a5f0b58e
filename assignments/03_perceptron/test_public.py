"""Public checks for topic 3, the perceptron's shallow network: run them with `grade check perceptron`.

Topics 1-3 share their checks (graders/families/regression_public.py); the numbers per topic are in
graders/families/regression.py (FAMILY).
"""

from graders.families.regression_public import (  # noqa: F401 - pytest collects them from here
    test_loss_decreases,
    test_model_structure,
    test_predict_no_grad,
    test_train_returns_losses,
)
