"""The package version (a leaf, so faces can read it without the package root)."""

__version__ = "0.1.0"
