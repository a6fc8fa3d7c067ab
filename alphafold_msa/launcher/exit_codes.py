"""launch.py's exit codes."""

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2  # a bad option or input file: nothing was run
EXIT_REMOTE_FAILED = 3  # the job (or a batch's job) failed, or the endpoint could not be used
EXIT_TIMEOUT = 4
EXIT_CANCELLED = 5
