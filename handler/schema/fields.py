"""From a form's schema to its fields: each ``$ref`` followed, the ``if``/``then`` branches walked, page order."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from referencing import Registry

from handler.dialect import Widget, widget_for, widgets
from handler.schema.lint import limit_problems, widget_problems
from handler.schema.model import Condition, Field, Path_

_BRANCH_SHAPE = (
    '{"if": {"properties": {FIELD: {"const": VALUE}}, "required": [FIELD]}, "then": {...}} '
    '(or, for a list of choices, {FIELD: {"contains": {"const": VALUE}}})'
)


def collect_fields(
    schema: Mapping[str, Any], registry: Registry[Any], schema_file: Path, problems: list[str]
) -> tuple[Field, ...]:
    """Walk the form's properties and its ``if``/``then`` branches into fields, in page order.

    The fields of a branch that tests field X come right after X, so choosing a value reveals
    its fields where the person is looking. ``registry`` holds the form's schema and what it refers to.
    """
    walk = _Walk(_References(registry, schema, schema_file, problems), schema_file, problems)
    walk.level(schema, "", (), set())
    walk.place_required_elsewhere()
    available = widgets()
    return tuple(
        _field(name, walk.found[name], schema, available, schema_file, problems)
        for name in page_order(list(walk.found), walk.after, schema_file, problems)
    )


def _field(
    name: str,
    entry: Mapping[str, Any],
    schema: Mapping[str, Any],
    available: Mapping[str, Widget],
    schema_file: Path,
    problems: list[str],
) -> Field:
    """The field the walk found, with its widget, checked against that widget and for limits no value meets."""
    sub = entry["schema"]
    widget = widget_for(sub, available)
    problems.extend(f"{schema_file}: {entry['where']}{p}" for p in widget_problems(sub, available[widget]))
    own = _at(schema, entry["where"])
    problems.extend(f"{schema_file}: {entry['where']}{p}" for p in limit_problems(sub, own))
    drawn = available[widget]
    shown, required = tuple(entry["shown"]), tuple(entry["required"])
    return Field(name, sub, widget, shown, required, drawn.value, drawn.moment, drawn.multiline)


class _References:
    """Follows a field's ``$ref`` in the form's registry, reporting a target that is not there."""

    def __init__(self, registry: Registry[Any], schema: Mapping[str, Any], schema_file: Path, problems: list[str]):
        self.resolver = registry.resolver(base_uri=schema["$id"])
        self.schema_file = schema_file
        self.problems = problems

    def resolve(self, sub: Mapping[str, Any], where: str) -> dict[str, Any]:
        """``sub`` with its ``$ref`` (and its items') merged in; the field's own keywords may only tighten."""
        merged = dict(sub)
        while "$ref" in merged:
            reference = merged.pop("$ref")
            try:
                target = self.resolver.lookup(reference).contents
            except Exception:  # referencing raises several kinds of error for a target that is not there
                self.problems.append(f"{self.schema_file}: {where}/$ref: {reference!r} points at nothing")
                return merged
            for keyword in set(merged) & set(target):
                if not _tightens(keyword, target[keyword], merged[keyword]):
                    self.problems.append(
                        f"{self.schema_file}: {where}/{keyword}: may only tighten the {keyword} of {reference} "
                        f"({target[keyword]!r}), since both apply"
                    )
            merged = {**target, **merged}
        if isinstance(merged.get("items"), Mapping):
            merged["items"] = self.resolve(merged["items"], f"{where}/items")
        return merged


class _Walk:
    """The fields found so far in a form's properties and branches, where each was found, and what precedes it."""

    def __init__(self, references: _References, schema_file: Path, problems: list[str]) -> None:
        self.references = references
        self.schema_file = schema_file
        self.problems = problems
        self.found: dict[str, dict[str, Any]] = {}
        self.after: dict[str, set[str]] = {}  # field -> the fields that must come before it on the page
        self.required_elsewhere: list[tuple[str, str, Path_]] = []

    def level(self, level: Mapping[str, Any], where: str, path: Path_, before: set[str]) -> set[str]:
        """Take the fields of one level (the form, or a branch's ``then``) and, after each, the branches testing
        it; return the fields the next one must follow."""
        required = set(level.get("required", ()))
        properties = level.get("properties", {})
        branches = self._branches(level, where)
        for name, sub in properties.items():
            at = f"{where}/properties/{name}"
            self._add(name, self.references.resolve(sub, at), at, path, name in required)
            self.after.setdefault(name, set()).update(before)
            before = {name}
            for index, branch in branches.pop(name, []):
                test = branch_test(branch)
                assert test is not None
                before = before | self.level(branch["then"], f"{where}/allOf/{index}/then", (*path, test), {name})
        for name, rest in branches.items():
            for index, _ in rest:
                self.problems.append(
                    f"{self.schema_file}: {where}/allOf/{index}/if: tests {name!r}, which is not a field here"
                )
        self.required_elsewhere.extend((name, where, path) for name in required - set(properties))
        return before

    def _branches(self, level: Mapping[str, Any], where: str) -> dict[str, list[tuple[int, Mapping[str, Any]]]]:
        """The level's ``allOf`` branches by the field they test; a branch of another shape is reported."""
        branches: dict[str, list[tuple[int, Mapping[str, Any]]]] = {}
        for index, branch in enumerate(level.get("allOf", ())):
            test = branch_test(branch)
            if test is None:
                self.problems.append(f"{self.schema_file}: {where}/allOf/{index}: a branch must be {_BRANCH_SHAPE}")
                continue
            branches.setdefault(test.field, []).append((index, branch))
        return branches

    def _add(self, name: str, sub: dict[str, Any], where: str, path: Path_, required: bool) -> None:
        entry = self.found.setdefault(name, {"schema": sub, "where": where, "shown": [], "required": []})
        if entry["schema"] != sub:
            self.problems.append(
                f"{self.schema_file}: {where}: field {name!r} differs from its definition at {entry['where']}"
            )
        entry["shown"].append(path)
        if required:
            entry["required"].append(path)

    def place_required_elsewhere(self) -> None:
        """A ``required`` naming a field of another level makes that field required on this level's path."""
        for name, where, path in self.required_elsewhere:
            if name in self.found:
                self.found[name]["required"].append(path)
            else:
                self.problems.append(f"{self.schema_file}: {where}/required: {name!r} is not a field of this form")


def _at(document: Any, where: str) -> Any:
    """The part of ``document`` at the JSON pointer ``where`` (field pointers hold no ``~`` or ``/``)."""
    for part in where.split("/")[1:]:
        document = document[int(part)] if isinstance(document, list) else document.get(part, {})
    return document


def _tightens(keyword: str, base: Any, override: Any) -> bool:
    """Whether ``override`` only narrows ``base`` for ``keyword``, so the page needs only the override."""
    if base == override or keyword in ("x-widget", "$comment", "description"):
        return True
    if keyword in ("maxLength", "maxItems", "maximum", "exclusiveMaximum", "x-latest"):
        return bool(override <= base)
    if keyword in ("minLength", "minItems", "minimum", "exclusiveMinimum", "x-earliest"):
        return bool(override >= base)
    return False


def page_order(names: list[str], after: Mapping[str, set[str]], schema_file: Path, problems: list[str]) -> list[str]:
    """Order fields so each comes after the fields it follows in every branch, else in schema order."""
    placed: list[str] = []
    waiting = list(names)
    while waiting:
        ready = next((n for n in waiting if after.get(n, set()) - {n} <= set(placed)), None)
        if ready is None:
            problems.append(
                f"{schema_file}: fields {', '.join(waiting)} appear in conflicting orders in different branches"
            )
            return placed + waiting
        placed.append(ready)
        waiting.remove(ready)
    return placed


def branch_test(branch: Any) -> Condition | None:
    """The test of an ``allOf`` branch of the one shape the dialect allows, or None for any other shape."""
    if not isinstance(branch, Mapping) or set(branch) != {"if", "then"}:
        return None
    test = branch["if"]
    props = test.get("properties", {}) if isinstance(test, Mapping) else {}
    if len(props) != 1 or test.get("required") != list(props):
        return None
    ((name, condition),) = props.items()
    if not isinstance(condition, Mapping):
        return None
    if set(condition) == {"const"}:
        return Condition(name, condition["const"])
    inner = condition.get("contains")
    if set(condition) == {"contains"} and isinstance(inner, Mapping) and set(inner) == {"const"}:
        return Condition(name, inner["const"], contains=True)
    return None
