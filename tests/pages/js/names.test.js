// Field names that are members of every JavaScript object ("constructor", "__proto__", "toString")
// are fields like any other on the page: the checker reports their problems as the server does.
import { test } from "node:test";
import assert from "node:assert/strict";
import { validate } from "../../../site/static/checks.js";
import { ownValue } from "../../../site/static/texts.js";

const NAMES = ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"];

function textField(name) {
  return {
    name,
    value: "text",
    shownWhen: [[]],
    requiredWhen: [[]],
    schema: { type: "string", maxLength: 5 },
    messages: { required: `${name} is required`, maxLength: `${name} is too long`, type: `${name} is text` },
  };
}

const model = {
  fields: NAMES.map(textField),
  rules: [],
  timeZone: "UTC",
  messages: { unevaluatedProperties: "{label} is not a field of this form" },
};
const now = new Date("2026-06-01T12:00:00Z");
// JSON.parse makes "__proto__" an own member, as the page's documents and the server's have it.
const documentOf = (value) => JSON.parse(JSON.stringify(Object.fromEntries(NAMES.map((n) => [n, value]))));
const verdict = (m, data) => validate(m, data, now).map((p) => [p.field, p.keyword]);

test("a missing field named like an Object.prototype member is reported as required", () => {
  assert.deepEqual(verdict(model, {}), NAMES.map((n) => [n, "required"]));
});

test("a too long value of such a field is reported", () => {
  assert.deepEqual(verdict(model, documentOf("far too long")), NAMES.map((n) => [n, "maxLength"]));
  assert.deepEqual(verdict(model, documentOf("ok")), []);
});

test("such a field that is not in the form is refused as an extra field", () => {
  const empty = { ...model, fields: [] };
  assert.deepEqual(verdict(empty, documentOf("x")), NAMES.map((n) => [n, "unevaluatedProperties"]));
});

test("a branch on such a field opens only for its value", () => {
  const detail = { ...textField("detail"), shownWhen: [[["constructor", "yes"]]], requiredWhen: [[["constructor", "yes"]]] };
  const branching = { ...model, fields: [textField("constructor"), detail] };
  assert.deepEqual(verdict(branching, { constructor: "yes" }), [["detail", "required"]]);
  assert.deepEqual(verdict(branching, { constructor: "no" }), []);
});

test("ownValue reads only an object's own members", () => {
  assert.equal(ownValue({}, "constructor"), undefined);
  assert.equal(ownValue(JSON.parse('{"__proto__": 1}'), "__proto__"), 1);
  assert.equal(ownValue({ toString: "x" }, "toString"), "x");
  assert.equal(ownValue(null, "a"), undefined);
  assert.equal(ownValue(undefined, "a"), undefined);
});
