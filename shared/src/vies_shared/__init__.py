"""VIES platform shared library."""
