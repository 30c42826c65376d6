"""Re-exports ``handler.schema`` under its former name, for the callers not yet moved to the package's modules."""

from handler.schema.lint import FIELD_TEXTS, FORM_MEMBERS, RESERVED_NAMES
from handler.schema.loader import COMPILED, DEFAULT_TIME_ZONE, SCHEMA_DIR, SchemaProblem, compile_catalog, load_catalog
from handler.schema.model import CONTACT_TYPES_ID, UPLOAD_KEYWORDS, Catalog, Condition, Field, FieldError, Form, Path_
from handler.schema.values import FormValidator, exact, is_multiple, json_equal, option_key, unreadable_number
from handler.schema.wording import format_moment, format_number, format_office_hours, short

__all__ = [
    "COMPILED",
    "CONTACT_TYPES_ID",
    "DEFAULT_TIME_ZONE",
    "FIELD_TEXTS",
    "FORM_MEMBERS",
    "RESERVED_NAMES",
    "SCHEMA_DIR",
    "UPLOAD_KEYWORDS",
    "Catalog",
    "Condition",
    "Field",
    "FieldError",
    "Form",
    "FormValidator",
    "Path_",
    "SchemaProblem",
    "compile_catalog",
    "exact",
    "format_moment",
    "format_number",
    "format_office_hours",
    "is_multiple",
    "json_equal",
    "load_catalog",
    "option_key",
    "short",
    "unreadable_number",
]
