"""The fixed parts of the dialect's metaschema, as data: the shapes of the keywords' values, a form's header,
its levels and ``if``/``then`` branches, and the values of the ``x-`` keywords; with the patterns of the formats.

``dialect.metaschema`` puts them together with what the registry and the widgets' folders add.
"""

from __future__ import annotations

from typing import Any

# RFC 3986's absolute URI, without characters that may not appear in one unescaped.
URI_PATTERN = r'^[A-Za-z][A-Za-z0-9+.\-]*:[^\u0000-\u0020\u007f-\u009f"<>\\^`{|}]+$'
DATE_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
DATE_TIME_PATTERN = DATE_PATTERN[:-1] + "T" + TIME_PATTERN[1:]

SCALAR = {"type": ["string", "number", "integer", "boolean"]}
COUNT = {"type": "integer", "minimum": 0}
NUMBER = {"type": "number"}
MOMENT = {"type": "string", "pattern": r"^(today|now|[0-9][0-9T:\-]+)$"}

# A level of a form (the form itself, or a branch's ``then``): its fields, which are required, and its branches.
LEVEL_PROPERTIES: dict[str, Any] = {
    "required": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
    "properties": {
        "type": "object",
        "propertyNames": {"pattern": "^[a-z][a-z0-9_]*$"},
        "additionalProperties": {"$ref": "#/$defs/field"},
    },
    "allOf": {"type": "array", "items": {"$ref": "#/$defs/branch"}},
}
LEVEL: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": LEVEL_PROPERTIES}
BRANCH: dict[str, Any] = {
    "type": "object",
    "required": ["if", "then"],
    "additionalProperties": False,
    "properties": {
        "if": {
            "type": "object",
            "required": ["properties", "required"],
            "additionalProperties": False,
            "properties": {
                "properties": {
                    "type": "object",
                    "minProperties": 1,
                    "maxProperties": 1,
                    # A choice, a yes/no or a number has one value: {"const": V}; a list of
                    # choices holds one: {"contains": {"const": V}}.
                    "additionalProperties": {
                        "type": "object",
                        "minProperties": 1,
                        "maxProperties": 1,
                        "additionalProperties": False,
                        "properties": {
                            "const": SCALAR,
                            "contains": {
                                "type": "object",
                                "required": ["const"],
                                "additionalProperties": False,
                                "properties": {"const": {"type": "string"}},
                            },
                        },
                    },
                },
                "required": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 1},
            },
        },
        "then": {"$ref": "#/$defs/level"},
    },
}
# What a form file holds at its top, besides the fields of its first level.
FORM_HEADER: dict[str, Any] = {
    "$schema": {"const": "https://json-schema.org/draft/2020-12/schema"},
    "$id": {"type": "string", "pattern": "^urn:servicedesk-forms:form:"},
    "$comment": {"type": "string"},
    "title": {"type": "string"},
    "description": {"type": "string"},
    "x-form": {"$ref": "#/$defs/form"},
    "type": {"const": "object"},
}
FORM: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "id",
        "version",
        "referencePrefix",
        "discriminator",
        "titleField",
        "allowedContactTypes",
    ],
    "properties": {
        "id": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$"},
        "version": {"type": "integer", "minimum": 1},
        "referencePrefix": {"type": "string", "pattern": "^[A-Z]{1,5}$"},
        "discriminator": {"type": "string"},
        "titleField": {"type": "string"},
        "allowedContactTypes": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "timeZone": {"$ref": "#/$defs/timeZone"},
    },
}
TIME_ZONE: dict[str, Any] = {"type": "string", "format": "time-zone"}
OFFICE_HOURS: dict[str, Any] = {
    "type": "object",
    "required": ["days", "opens", "closes", "timeZone"],
    "additionalProperties": False,
    "properties": {
        "days": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1, "maximum": 7},
            "minItems": 1,
            "uniqueItems": True,
        },
        "opens": {"type": "string", "pattern": TIME_PATTERN},
        "closes": {"type": "string", "pattern": TIME_PATTERN},
        "timeZone": {"$ref": "#/$defs/timeZone"},
        # The public holidays the desk is closed on: a country's calendar (ISO 3166 code) over the
        # years the form will take windows in.
        "holidays": {
            "type": "object",
            "required": ["calendar", "from", "to"],
            "additionalProperties": False,
            "properties": {
                "calendar": {"type": "string", "pattern": "^[A-Z]{2}$"},
                "from": {"type": "integer", "minimum": 1900, "maximum": 2200},
                "to": {"type": "integer", "minimum": 1900, "maximum": 2200},
            },
        },
    },
}
UPLOAD: dict[str, Any] = {
    "type": "object",
    "required": ["maxBytes", "types"],
    "additionalProperties": False,
    "properties": {
        "maxBytes": {"type": "integer", "minimum": 1},
        "types": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": "^[a-z]+/[a-z0-9.+-]+$"},
            "additionalProperties": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string", "pattern": "^\\.[a-z0-9]+$"},
            },
        },
    },
}
