// The page's checker against the official JSON Schema test cases, keyword by keyword.
import { test } from "node:test";
import assert from "node:assert/strict";
import { failure, KEYWORDS, readMoment, ruleHolds, wallClock, short } from "../../site/static/checks.js";
import { fill } from "../../site/static/texts.js";
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
    officeHours: { days: [1, 2, 3, 4, 5], opens: "08:00", closes: "16:00" } };
  // 3 September of the year 10 was a Friday (proleptic Gregorian, as the server reads it); 1910's a Saturday.
  assert.equal(ruleHolds(rule, { start: "0010-09-03T09:13", end: "0010-09-03T13:07" }), false);
  assert.equal(ruleHolds(rule, { start: "1910-09-03T09:13", end: "1910-09-03T13:07" }), true);
});
