"""The one exception type for input a user can fix.

Every loader and builder raises `QragInputError` for bad input (a malformed line, a
missing folder, an unknown task) with a message that names the input and the fix, so
that `kedro run` ends on one readable sentence instead of a stack of library frames.
"""


class QragInputError(ValueError):
    """Bad input: the message says which input (file, line, parameter) and how to fix it."""
