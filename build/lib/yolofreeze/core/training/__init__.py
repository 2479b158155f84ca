"""Launching training runs and reading their records: options, data checks, launch, runs, verify."""
