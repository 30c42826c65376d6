// The page's checker against the official JSON Schema test cases, keyword by keyword.
import { test } from "node:test";
import assert from "node:assert/strict";
import { failure, isShown, KEYWORDS, readChoice, readMoment, ruleHolds, validate, wallClock, short } from "../../../site/static/checks.js";
import { fill } from "../../../site/static/texts.js";
import { groups } from "./suite.js";

let ran = 0;
let skipped = 0;
for (const group of groups(Object.keys(KEYWORDS))) {
  if (group.skip) {
    skipped += group.tests.length;
    test(`${group.file}: ${group.description}`, { skip: group.skip }, () => {});
    continue;
  }
  for (const item of group.tests) {
    ran += 1;
    test(`${group.file}: ${group.description}: ${item.description}`, () => {
      assert.equal(failure(group.schema, item.data, "") === null, item.valid);
    });
  }
}

test("the official cases ran", () => {
  console.log(`official cases: ${ran} ran, ${skipped} skipped as outside the dialect`);
  assert.ok(ran > 200);
});

test("wall-clock time is taken in the form's time zone", () => {
  const instant = new Date("2026-07-01T22:30:00Z");
  assert.equal(wallClock(instant, "Europe/Oslo"), "2026-07-02T00:30");
  assert.equal(wallClock(instant, "UTC"), "2026-07-01T22:30");
});

test("texts are filled by name and values are cut at 60 characters", () => {
  assert.equal(fill("“{value}” is {limit}", { value: "a", limit: "b" }), "“a” is b");
  assert.equal(fill("{unknown} stays", {}), "{unknown} stays");
  assert.equal(short("😀".repeat(61)), "😀".repeat(59) + "…");
});

test("dates are real days of the years 1 to 9999", () => {
  assert.equal(failure({ format: "date" }, "0000-01-01"), "format");
  assert.equal(failure({ format: "date" }, "2027-02-29"), "format");
  assert.equal(failure({ format: "date" }, "2028-02-29"), null);
  assert.equal(failure({ format: "local-date-time" }, "2028-02-30T10:00"), "format");
});

test("dates and times are read as either language types them", () => {
  assert.equal(readMoment("date", "31.12.2026"), "2026-12-31");
  assert.equal(readMoment("date", " 1/2/2027 "), "2027-02-01");
  assert.equal(readMoment("date", "2026-12-31"), "2026-12-31");
  assert.equal(readMoment("date", "31.12.26"), "31.12.26");
  assert.equal(readMoment("time", "14.30"), "14:30");
  assert.equal(readMoment("time", "8:05"), "08:05");
  assert.equal(readMoment("datetime", "31.12.2026 14:30"), "2026-12-31T14:30");
  assert.equal(readMoment("datetime", "31.12.2026 kl. 14.30"), "2026-12-31T14:30");
  assert.equal(readMoment("datetime", "31/12/2026, 14:30"), "2026-12-31T14:30");
  assert.equal(readMoment("datetime", "2026-12-31T14:30"), "2026-12-31T14:30");
  assert.equal(readMoment("datetime", "31.12.2026"), "31.12.2026");
  assert.equal(failure({ format: "date" }, readMoment("date", "31.02.2026")), "format");
});

test("office hours fall on the weekday of the date as written, in the years 0 to 99 too", () => {
  const rule = { rule: "outside-office-hours", field: "end", other: "start",
    officeHours: { days: [1, 2, 3, 4, 5], opens: "08:00", closes: "16:00", closed: {} } };
  // 3 September of the year 10 was a Friday (proleptic Gregorian, as the server reads it); 1910's a Saturday.
  assert.equal(ruleHolds(rule, { start: "0010-09-03T09:13", end: "0010-09-03T13:07" }), false);
  assert.equal(ruleHolds(rule, { start: "1910-09-03T09:13", end: "1910-09-03T13:07" }), true);
});

test("a window on a day the office is closed lies outside office hours: the page lists the days by year", () => {
  const rule = { rule: "outside-office-hours", field: "end", other: "start",
    officeHours: { days: [1, 2, 3, 4, 5], opens: "08:00", closes: "16:00", closed: { 2027: ["05-17"] } } };
  const window = (day) => ({ start: `${day}T10:00`, end: `${day}T12:00` });
  assert.equal(ruleHolds(rule, window("2027-05-17")), true); // a Monday, and 17 May
  assert.equal(ruleHolds(rule, window("2027-05-18")), false);
  assert.equal(ruleHolds(rule, window("2028-05-17")), false); // a year the list does not name is ordinary
});

test("a field's message is its own, or the language's text for the keyword with the field's label", () => {
  const model = { messages: { type: "“{label}” has the wrong type: {value}" }, timeZone: "UTC", rules: [],
    fields: [
      { name: "a", label: "First", shownWhen: [[]], requiredWhen: [[]], schema: { type: "string" }, messages: {} },
      { name: "b", label: "{value}", shownWhen: [[]], requiredWhen: [], schema: { type: "string" },
        messages: { required: "Say b" } },
      { name: "c", label: "Third", shownWhen: [[]], requiredWhen: [[]], schema: { type: "string" },
        messages: { required: "Say c", type: "c is text" } },
    ] };
  const said = validate(model, { a: 1, b: 2, c: 3 }, new Date()).map((p) => p.message);
  // The label is filled in first and {value} after, as the server does: a label's own {value} is filled too.
  assert.deepEqual(said, ["“First” has the wrong type: ", "“” has the wrong type: ", "c is text"]);
});

// ---- Decimals, numbers neither side can compare, lone surrogates, branches, numbers as choices --

const amount = (i) => `${Math.floor(i / 100)}.${String(i % 100).padStart(2, "0")}`;

test("multipleOf is exact for decimals: every amount from 0.00 to 1000.00 is a multiple of 0.01", () => {
  const refused = [];
  for (let i = 0; i <= 100000; i += 1) {
    const v = JSON.parse(amount(i)); // as the page and the server read it from JSON
    if (failure({ type: "number", multipleOf: 0.01 }, v) !== null) refused.push(amount(i));
  }
  assert.deepEqual(refused, []);
  for (const v of [0.07, 1.15, 19.99, 1234.56, -0.01, 0]) assert.equal(failure({ multipleOf: 0.01 }, v), null, String(v));
  for (const v of [0.075, 0.001, 19.995, 1234.567]) assert.equal(failure({ multipleOf: 0.01 }, v), "multipleOf", String(v));
  assert.equal(failure({ multipleOf: 0.1 }, 0.3), null);
  assert.equal(failure({ multipleOf: 0.5 }, 1e308), null); // the suite's optional float-overflow case
  assert.equal(failure({ multipleOf: 0.123456789 }, 1e308), "multipleOf");
  assert.equal(failure({ multipleOf: 1e-8 }, 12391239123), null);
  assert.equal(failure({ multipleOf: 0.01 }, Infinity), "multipleOf");
});

function model(fields) {
  return {
    timeZone: "Europe/Oslo", rules: [], messages: { unevaluatedProperties: "not here" },
    fields: fields.map((f) => ({ shownWhen: [[]], requiredWhen: [], schema: {}, items: {}, messages: {}, ...f })),
  };
}
const MESSAGES = { "x-text": "unreadable text", "x-number": "too large", type: "wrong type", required: "required",
  multipleOf: "not a multiple", unevaluatedProperties: "not here" };

test("a number that is not finite is the field's x-number error, before its type", () => {
  const form = model([
    { name: "budget", schema: { type: "number", multipleOf: 0.01 }, messages: MESSAGES },
    { name: "count", schema: { type: "integer" }, messages: MESSAGES },
  ]);
  const verdict = (data) => validate(form, data, new Date()).map((p) => [p.field, p.keyword, p.message]);
  assert.deepEqual(verdict({ budget: Infinity, count: -Infinity }),
    [["budget", "x-number", "too large"], ["count", "x-number", "too large"]]);
  assert.deepEqual(verdict({ budget: 19.99, count: 12 }), []);
});

test("a lone surrogate is the field's x-text error, as on the server, though JSON.stringify escapes it", () => {
  const form = model([
    { name: "title", schema: { type: "string" }, messages: MESSAGES },
    { name: "tags", schema: { type: "array" }, items: { type: "string" }, messages: MESSAGES },
  ]);
  const verdict = (data) => validate(form, data, new Date()).map((p) => [p.field, p.keyword]);
  assert.deepEqual(verdict({ title: "a\ud800b", tags: ["ok", "\udc00"] }), [["title", "x-text"], ["tags", "x-text"]]);
  assert.deepEqual(verdict({ title: "smile \ud83d\ude00", tags: ["\ud83d\ude00"] }), []);
});

test("a branch can test a yes/no (const true/false) and a list of checkboxes (contains)", () => {
  const topic = { shownWhen: [[["kind", "choices"], ["newsletter", true]]] };
  const callAt = { shownWhen: [[["kind", "choices"], ["channels", "phone", "contains"]]] };
  assert.equal(isShown(topic, { kind: "choices", newsletter: true }), true);
  assert.equal(isShown(topic, { kind: "choices", newsletter: false }), false);
  assert.equal(isShown(topic, { kind: "choices", newsletter: 1 }), false); // true is not 1 in JSON
  assert.equal(isShown(topic, { kind: "choices", newsletter: "true" }), false);
  assert.equal(isShown(topic, { kind: "numbers", newsletter: true }), false);
  assert.equal(isShown(callAt, { kind: "choices", channels: ["chat", "phone"] }), true);
  assert.equal(isShown(callAt, { kind: "choices", channels: ["chat"] }), false);
  assert.equal(isShown(callAt, { kind: "choices" }), false);
  assert.equal(isShown(callAt, { kind: "choices", channels: "chat" }), true); // as JSON Schema's contains
});

test("a choice of numbers is read from its control as a number", () => {
  assert.equal(readChoice([1, 2, 5], "5"), 5);
  assert.equal(readChoice([0.5, 1, 2.5], "2.5"), 2.5);
  assert.equal(readChoice([1, 2, 5], "7"), "7"); // kept as typed: the checker words the error
  assert.equal(readChoice(["1", "2"], "1"), "1"); // texts stay texts
  assert.equal(readChoice(["a", "b"], "b"), "b");
  assert.equal(readChoice([1, 2], undefined), undefined);
  assert.equal(failure({ type: "integer", enum: [1, 2, 5] }, readChoice([1, 2, 5], "2")), null);
});
