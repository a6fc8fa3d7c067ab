"""Errors a user can cause: each carries a one-line message naming the file or field at fault, and
the exit code the command line ends with for it."""

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_REMOTE_FAILED = 3
EXIT_TIMEOUT = 4
EXIT_CANCELLED = 5


class UserError(Exception):
    """Base class for problems with the user's input; the message is shown without a traceback."""

    exit_code = EXIT_BAD_INPUT


class MsaError(UserError):
    """The alignment cannot be read or is not a valid protein MSA."""


class WeightsError(UserError):
    """AlphaFold parameters are missing, incomplete, or do not fit the model configuration."""


class ConfigError(UserError):
    """An option has an invalid value."""


class MsaTooLargeError(MsaError):
    """The alignment is larger than the configured limit (once decompressed)."""


class RemoteError(UserError):
    """The endpoint could not be reached, answered with an error, or returned a malformed result."""

    exit_code = EXIT_REMOTE_FAILED


class TemplateError(UserError):
    """A template structure cannot be read, has no usable protein chain, or does not fit the query."""


def printable(text: str) -> str:
    """`text` with control characters (terminal escapes, newlines, ...) written as escapes, so a
    message that came from elsewhere prints as one harmless line."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))
