"""The problems the API answers with: a stable name each, and its HTTP status beside it. Nothing here imports
the rest of the handler, so that texts, use cases and the API all name them alike."""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    """Every problem the API answers with, by its stable name, and the HTTP status it is answered with. Each has
    a message in every language (``api`` in schema/common.*.json)."""

    status: int

    def __new__(cls, name: str, status: int) -> Code:
        member = str.__new__(cls, name)
        member._value_ = name
        member.status = status
        return member

    BAD_REQUEST = ("bad_request", 400)
    INVALID_ENCODING = ("invalid_encoding", 400)
    INVALID_IDEMPOTENCY_KEY = ("invalid_idempotency_key", 400)
    INVALID_JSON = ("invalid_json", 400)
    INVALID_TEXT = ("invalid_text", 400)
    INVALID_CODE = ("invalid_code", 401)
    SESSION_EXPIRED = ("session_expired", 401)
    SIGN_IN_REQUIRED = ("sign_in_required", 401)
    NOT_AUTHORIZED = ("not_authorized", 403)
    CROSS_SITE_REQUEST = ("cross_site_request", 403)
    UPLOAD_REFUSED = ("upload_refused", 403)
    NOT_FOUND = ("not_found", 404)
    METHOD_NOT_ALLOWED = ("method_not_allowed", 405)
    IDEMPOTENCY_IN_PROGRESS = ("idempotency_in_progress", 409)
    REQUEST_CLOSED = ("request_closed", 409)
    PAYLOAD_TOO_LARGE = ("payload_too_large", 413)
    REQUEST_TOO_LARGE = ("request_too_large", 413)
    UNSUPPORTED_MEDIA_TYPE = ("unsupported_media_type", 415)
    IDEMPOTENCY_CONFLICT = ("idempotency_conflict", 422)
    INVALID_BODY = ("invalid_body", 422)
    UNKNOWN_FORM = ("unknown_form", 422)
    VALIDATION_FAILED = ("validation_failed", 422)
    TOO_MANY_ATTEMPTS = ("too_many_attempts", 429)
    TOO_MANY_CODES = ("too_many_codes", 429)
    TOO_MANY_COPIES = ("too_many_copies", 429)
    TOO_MANY_SUBMISSIONS = ("too_many_submissions", 429)
    TOO_MANY_UPLOADS = ("too_many_uploads", 429)
    INTERNAL_ERROR = ("internal_error", 500)
    STORAGE_UNAVAILABLE = ("storage_unavailable", 503)
