"""Screens of the app: one per file (main, error, help, export, confirm; launch and runs come from the training work)."""
