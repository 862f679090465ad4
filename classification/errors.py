"""Errors a user can fix. ``main.py`` prints them as one line without a traceback."""
import re


class UserError(Exception):
    """Bad input (data, config, checkpoint, diverged run): reported as ``error: <message>``, exit status 1."""


class ConfigError(UserError):
    """A recipe file or a flag that cannot be used."""


class DataError(UserError):
    """A missing or empty dataset folder, a class folder without images, an unreadable image."""


class NaNLossError(UserError):
    """The loss became NaN/inf; training stops and the last good checkpoint is left as it is."""


def one_line(err: BaseException) -> str:
    """The useful line of an error message.

    A DataLoader worker re-raises its exception in the main process with the worker's traceback folded into the
    message; the original message is then the last line, after ``SomeError: ``.
    """
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    line = lines[-1] if len(lines) > 1 else lines[0]
    return re.sub(r'^(?:[\w.]+\.)?\w*(?:Error|Exception): ', '', line)
