"""Errors a user can cause, each with the CLI exit code that reports it.

Bugs are not listed here: they still raise ordinary exceptions and crash loudly in tests.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_UNREADABLE = 1
EXIT_USAGE = 2
EXIT_HOSTILE = 3
EXIT_BAD_DATA = 4
EXIT_NO_GPU = 5
EXIT_TRAINING_FAILED = 6
EXIT_NOT_FOUND = 7


class YoloFreezeError(Exception):
    """Base class: an expected, user-caused failure with a one-line message."""

    exit_code = EXIT_UNREADABLE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class CheckpointError(YoloFreezeError):
    """The file is missing, unreadable, or not a checkpoint this tool understands."""

    exit_code = EXIT_UNREADABLE


class HostileCheckpointError(YoloFreezeError):
    """The file references code that could run when loaded; refused for this action."""

    exit_code = EXIT_HOSTILE


class PlanError(YoloFreezeError):
    """A freeze plan, preset or plan file that does not fit the checkpoint."""

    exit_code = EXIT_USAGE


class UsageError(YoloFreezeError):
    """Bad command-line arguments or option values."""

    exit_code = EXIT_USAGE


class DataConfigError(YoloFreezeError):
    """A data YAML or training option that would make training fail."""

    exit_code = EXIT_BAD_DATA


class GpuUnavailableError(YoloFreezeError):
    """A GPU was asked for but none (or too few) can be used."""

    exit_code = EXIT_NO_GPU


class TrainingError(YoloFreezeError):
    """The training process failed or could not be started."""

    exit_code = EXIT_TRAINING_FAILED


class RunNotFoundError(YoloFreezeError):
    """No recorded run matches what was asked for."""

    exit_code = EXIT_NOT_FOUND
