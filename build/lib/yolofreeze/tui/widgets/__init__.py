"""Widgets of the app, one per file; each formats what core computes."""
