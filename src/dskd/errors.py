"""Exceptions for problems the user can fix; the CLI prints them as one line and exits 2."""

__all__ = ["DskdError", "ConfigError", "DataError", "CheckpointError"]


class DskdError(Exception):
    """A problem with the user's input (not a bug): shown as one line, no traceback."""


class ConfigError(DskdError):
    """An unknown key, a bad value or an inconsistent combination in the configuration."""


class DataError(DskdError):
    """A missing, unreadable or inconsistent image, mask, folder or split file."""


class CheckpointError(DskdError):
    """A checkpoint that is missing, unreadable or does not match the run."""
