"""Errors the domain raises and the HTTP layer maps to status codes (docs/CONTRACT.md 2).

Pure: services' domain modules subclass these without importing any framework.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of errors a user can act on; ``status`` is the HTTP code it maps to."""

    status = 409
    code = "conflict"

    def __init__(self, message: str, *, details: object | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotAllowedInState(DomainError):
    """A command not allowed in the current state (409 with the reason)."""


class AlreadyExists(DomainError):
    """A duplicate of an existing record (409 naming it)."""

    code = "already_exists"


class NotFound(DomainError):
    """Unknown id (404)."""

    status = 404
    code = "not_found"


class Forbidden(DomainError):
    """Valid identity, but the action or data is outside its role or scope (403)."""

    status = 403
    code = "forbidden"


class InvalidInput(DomainError):
    """Input that is well-formed but fails a business check on a field (422)."""

    status = 422
    code = "invalid"
