"""cnnlab: build, measure, train, explain, attack and transfer convolutional neural networks."""

__version__ = "0.1.0"

__all__ = ["__version__"]
