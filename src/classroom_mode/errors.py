"""Error types that the CLI maps to exit codes: a user's mistake is exit 2, a failure is exit 1.

Every layer raises these instead of printing, so a batch job can collect them and go on,
and the command line can show one line with no traceback.
"""


class ClassroomModeError(Exception):
    """Something failed that is not the user's fault (exit code 1)."""

    exit_code = 1


class UserError(ClassroomModeError):
    """Bad input: a file, field or argument the user can fix (exit code 2). The message names it."""

    exit_code = 2


class NotAvailableError(ClassroomModeError):
    """A capability that is not built yet or whose optional extra is not installed (exit code 1)."""
