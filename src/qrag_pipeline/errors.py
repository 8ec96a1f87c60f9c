"""The one exception type for input a user can fix.

Every loader and builder raises `QragInputError` for bad input (a malformed line, a
missing folder, an unknown task) with a message that names the input and the fix, so
that `kedro run` ends on one readable sentence instead of a stack of library frames.
"""


class QragInputError(ValueError):
    """Bad input: the message says which input (file, line, parameter) and how to fix it."""


class TrainingDivergedError(QragInputError):
    """The training loss (or its gradient) stopped being a finite number.

    Raised before the optimiser step of the update that diverged, so the weights and
    every checkpoint saved so far stay finite; the usual fix is a parameter (a lower
    learning rate), hence an input error.
    """

    def __init__(self, message: str, update: int) -> None:
        super().__init__(message)
        self.update = update
