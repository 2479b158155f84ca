"""Freeze plans: the exact set of frozen parameters, presets, export formats and imports."""
