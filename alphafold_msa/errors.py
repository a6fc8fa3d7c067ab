"""Every error the package raises on purpose, and the exit code the command line ends with for each.

Each carries a one-line message naming the file, field, URL or setting at fault; the command line prints
it without a traceback (anything else is a bug: Python prints the traceback and exits 1). The branch says
what to do next, and its exit code lets a script tell them apart; a leaf takes its branch's code:

    AlphafoldMsaError           the base (never raised itself)
    |-- UserError            2  fix your input: files, options, job fields, settings
    |     MsaError (MsaTooLargeError), TemplateError, ConfigError,
    |     protocol.schema.JobInputError, protocol.payload.PayloadError
    |-- RemoteError          3  the endpoint failed, or a job's results could not be delivered
    |     launcher.client: NotFound, AuthError, SubmissionUncertain; protocol.output.OutputError;
    |     protocol.archive.ArchiveError; launcher.output_folder.OutputConflict
    |-- TimedOut             4  a deadline passed: the job's, the wait's or a request's
    |     launcher.client: DeadlineExceeded, AnswerCutOff
    |-- Cancelled            5  the job was cancelled
    |-- TransferError        6  your storage or network failed: a bucket, a download link, a download
    |     transfer.bucket: StorageError (ExpiredLinkError); transfer.https: DownloadError (DownloadTimeout)
    |-- ResourceError        7  the job does not fit the device's memory, or its result is too large to return
    |     protocol.schema.ResultTooLargeError
    `-- WeightsError         8  AlphaFold's parameters are missing, damaged, or could not be provisioned
          model.provision.ProvisionError
"""

from typing import ClassVar

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_REMOTE_FAILED = 3
EXIT_TIMEOUT = 4
EXIT_CANCELLED = 5
EXIT_TRANSFER_FAILED = 6
EXIT_RESOURCES = 7
EXIT_WEIGHTS = 8


class AlphafoldMsaError(Exception):
    """Base class of every error the package raises on purpose; raise one of its branches."""

    exit_code: ClassVar[int]


class UserError(AlphafoldMsaError):
    """The user's input is at fault: a file, an option, a job field or a setting."""

    exit_code = EXIT_BAD_INPUT


class MsaError(UserError):
    """The alignment cannot be read or is not a valid protein MSA."""


class MsaTooLargeError(MsaError):
    """The alignment is larger than the configured limit (once decompressed)."""


class TemplateError(UserError):
    """A template structure cannot be read, has no usable protein chain, or does not fit the query."""


class ConfigError(UserError):
    """An option or setting has an invalid value."""


class RemoteError(AlphafoldMsaError):
    """The endpoint could not be reached, answered with an error, failed the job or returned a malformed
    result, or a job's files could not be delivered where they were asked for."""

    exit_code = EXIT_REMOTE_FAILED


class TimedOut(AlphafoldMsaError):
    """A deadline passed: the job's execution timeout, the wait for it, or a request's."""

    exit_code = EXIT_TIMEOUT


class Cancelled(AlphafoldMsaError):
    """The job was cancelled."""

    exit_code = EXIT_CANCELLED


class TransferError(AlphafoldMsaError):
    """Storage or the network failed: a bucket, a download link or a download."""

    exit_code = EXIT_TRANSFER_FAILED


class ResourceError(AlphafoldMsaError):
    """The job does not fit: more device memory than there is, or a result too large to return."""

    exit_code = EXIT_RESOURCES


class WeightsError(AlphafoldMsaError):
    """AlphaFold parameters are missing, damaged, do not fit the model configuration, or could not be provisioned."""

    exit_code = EXIT_WEIGHTS


def printable(text: object) -> str:
    """`text` with control characters (terminal escapes, newlines, ...) written as escapes, so a
    message that came from elsewhere prints as one harmless line."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))
