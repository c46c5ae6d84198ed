"""gptu tests: unit, integration (real services) and e2e (browser)."""
