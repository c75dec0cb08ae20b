"""Domain errors raised by the shared rules."""


class RuleError(ValueError):
    """A value broke a shared rule; `message` is user-facing Russian, `code` is machine-readable."""

    code = "invalid"

    def __init__(self, message: str, code: str | None = None) -> None:
        """Store the user-facing `message` and, if given, override the class `code`."""
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
