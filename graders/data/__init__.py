"""Dataset and weights access: toy data, torchvision datasets from disk, built-in stand-ins."""
