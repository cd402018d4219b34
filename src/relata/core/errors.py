"""Errors of the domain. Every error names the field it is about."""

from __future__ import annotations


class ValidationError(Exception):
    """Bad input: ``path`` names the field (``batch[3].attributes.email``), ``message`` says why."""

    def __init__(self, path: str, message: str, reason: str = "invalid") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message
        self.reason = reason

    def within(self, prefix: str) -> ValidationError:
        """The same error with its path nested under ``prefix``."""
        path = f"{prefix}.{self.path}" if self.path and not self.path.startswith("[") else prefix + self.path
        return ValidationError(path, self.message, self.reason)


class NotFound(Exception):
    """A thing that was asked for by identifier does not exist in the workspace."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


class Unauthorized(Exception):
    """Credentials missing or not valid for this API."""
