"""A grading harness for the course "PyTorch for Deep Learning and Computer Vision"."""

__version__ = "0.1.0"
