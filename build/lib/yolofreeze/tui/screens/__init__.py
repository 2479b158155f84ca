"""Screens of the app, one per file (main, error, help, export, confirm, prompt, loading).

The launch and runs screens come from the training work.
"""
