"""Xiao Shen (小申): a grounded assistant for Shanghai government services."""

__version__ = "0.1.0"
