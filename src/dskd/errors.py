"""Exceptions for problems the user can fix; the CLI prints them as one line and exits 2."""

import difflib

__all__ = ["DskdError", "ConfigError", "DataError", "CheckpointError", "valid_options"]


def valid_options(name: str, valid: list[str]) -> str:
    """"valid: a, b, c; did you mean 'b'?", the tail of an error about an unknown `name`.

    Besides close spellings it recognises initials (learning_rate -> lr)."""
    name = str(name)  # a YAML key may be a number or null
    close = difflib.get_close_matches(name, valid, n=1)
    initials = "".join(word[:1] for word in name.split("_"))
    if not close and initials in valid:
        close = [initials]
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"valid: {', '.join(valid)}{hint}"


class DskdError(Exception):
    """A problem with the user's input (not a bug): shown as one line, no traceback.

    The message is kept to one line whatever it quotes: a damaged file's own text (a DICOM UID
    with a line break in it, found by fuzzing) has its line breaks turned into spaces."""

    def __init__(self, message: object = "", *args: object) -> None:
        text = str(message)
        if "\n" in text or "\r" in text:
            text = " ".join(text.split())
        super().__init__(text, *args)


class ConfigError(DskdError):
    """An unknown key, a bad value or an inconsistent combination in the configuration."""


class DataError(DskdError):
    """A missing, unreadable or inconsistent image, mask, folder or split file."""


class CheckpointError(DskdError):
    """A checkpoint that is missing, unreadable or does not match the run."""
