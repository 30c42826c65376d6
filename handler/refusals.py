"""Why a use case said no: a code the API answers with, and the fields at fault. No HTTP here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from handler.codes import Code
from handler.schema.model import FieldError


class Refused(Exception):
    """A request a use case will not carry out, by ``code`` (a key of the ``api`` texts in schema/).

    ``errors`` lists the fields at fault, each already worded for the person who made the request;
    ``params`` fill the code's message; ``retry_after`` says, in seconds, when trying again may work.
    """

    def __init__(
        self,
        code: Code,
        errors: Sequence[FieldError] = (),
        *,
        params: Mapping[str, str] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(code)
        self.code = code
        self.errors = tuple(errors)
        self.params = dict(params or {})
        self.retry_after = retry_after


def invalid(errors: Sequence[FieldError], prefix: str = "") -> Refused:
    """The refusal of data that does not pass its checks; ``prefix`` places each pointer in the body."""
    return Refused(Code.VALIDATION_FAILED, [e.under(prefix) for e in errors])
