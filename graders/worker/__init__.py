"""The isolated side of grading: a separate, limited process that runs student code."""
