"""End-to-end tests in a headless Chromium."""
