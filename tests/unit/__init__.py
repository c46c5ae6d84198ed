"""Unit tests: no services."""
