// Numbers as people type them (checks.js: readNumber), with each language's marks from schema/:
// what can be read as exactly one number becomes that number; anything else is kept as typed, so
// the checker reports it at the field and nothing changes unseen.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { readNumber } from "../../../site/static/checks.js";

const SCHEMA = fileURLToPath(new URL("../../../schema/", import.meta.url));
const marksOf = (common) => ({ decimalMark: common.decimalMark, groupMark: common.groupMark });
const languages = readdirSync(SCHEMA).map((name) => /^common\.([a-z-]+)\.json$/.exec(name)).filter(Boolean)
  .map((match) => [match[1], marksOf(JSON.parse(readFileSync(SCHEMA + match[0], "utf8")))]);
const marks = Object.fromEntries(languages);

const READ = {
  nb: [
    ["1500,50", 1500.5], ["1 500,50", 1500.5], ["1\u00a0500,50", 1500.5], ["1\u202f500,50", 1500.5],
    ["1500", 1500], ["1 500", 1500], ["12 345 678,9", 12345678.9], [" 42 ", 42], ["0,25", 0.25], [",5", 0.5],
    ["-2", -2], ["\u22122", -2], ["1500,00", 1500], ["007", 7], ["123456789012345", 123456789012345],
  ],
  en: [
    ["1,500.50", 1500.5], ["1500.50", 1500.5], ["1,500", 1500], ["12,345,678.9", 12345678.9], ["0.25", 0.25],
    [".5", 0.5], ["-1,000", -1000], ["1500", 1500],
  ],
};

const KEPT = {
  // The other language's marks, a group mark between other than three digits, marks in the wrong place.
  nb: ["1.500", "1500.50", "1,500.50", "1 50", "1 5000", "1500,", "1,5,0", "1 500 ,5", "12,3 4", "abc", "1e3",
    "+1", "--1", "-", ",", "1 234567", "1234567890123456", "0,1234567890123456"],
  en: ["1,5", "1,50", "1,5000", "1500,50", "1 500", "1.500,50", "1234,567", "1,500.", "1.5.0", "1,500,5", "١٢",
    "Infinity", "0x10", "1_000"],
};

for (const language of Object.keys(READ)) {
  test(`${language}: numbers written as the language writes them are read exactly`, () => {
    assert.ok(marks[language], `schema/common.${language}.json has the marks`);
    for (const [typed, expected] of READ[language]) {
      assert.equal(readNumber(typed, marks[language]), expected, JSON.stringify(typed));
    }
  });

  test(`${language}: text that is not exactly one number is kept as typed`, () => {
    for (const typed of KEPT[language]) {
      assert.equal(readNumber(typed, marks[language]), typed.trim(), JSON.stringify(typed));
    }
  });
}

test("a whole number is read as an integer, so it is sent as one", () => {
  for (const [typed, language] of [["1 500", "nb"], ["1500,0", "nb"], ["1,500", "en"], ["1500.00", "en"]]) {
    const read = readNumber(typed, marks[language]);
    assert.ok(Number.isInteger(read), typed);
    assert.equal(JSON.stringify(read), "1500");
  }
});

// Every language of schema/, a new one too, reads back what it writes with its own marks.
for (const [language, own] of languages) {
  test(`${language}: reads back numbers written with its own marks`, () => {
    for (const [whole, fraction] of [["1", ""], ["1500", "5"], ["1234567", "25"], ["0", "75"]]) {
      const grouped = whole.replace(/\B(?=(\d{3})+$)/gu, own.groupMark);
      const written = fraction ? grouped + own.decimalMark + fraction : grouped;
      assert.equal(readNumber(written, own), Number(`${whole}.${fraction || "0"}`), JSON.stringify(written));
      assert.equal(readNumber("-" + written, own), -Number(`${whole}.${fraction || "0"}`));
    }
  });
}
