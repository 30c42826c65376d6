// Every text the page code asks for exists in every language in schema/, so a language added
// through schema/ alone works on the page, or this test names what it lacks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { USED, fill, lookup, missing } from "../../../site/static/texts.js";

const STATIC = fileURLToPath(new URL("../../../site/static/", import.meta.url));
const WIDGETS = fileURLToPath(new URL("../../../site/widgets/", import.meta.url));
const SCHEMA = fileURLToPath(new URL("../../../schema/", import.meta.url));
// Which pages' lists cover each script's texts (a module shared by pages needs its texts on each).
const PAGES = {
  "common.js": ["common"], "form.js": ["form"], "signin.js": ["sign-in"], "my-requests.js": ["my-requests"],
  "widgets/attachments/uploads.js": ["form", "my-requests"], "stop-emails.js": ["stop-emails"],
};

// The page scripts by name, and the page code of each widget by its path ("widgets/<name>/<script>.js").
const scripts = (folder, prefix) => readdirSync(folder).filter((name) => name.endsWith(".js"))
  .map((name) => [prefix + name, readFileSync(folder + name, "utf8")]);
const sources = Object.fromEntries([
  ...scripts(STATIC, ""),
  ...readdirSync(WIDGETS, { withFileTypes: true }).filter((entry) => entry.isDirectory())
    .flatMap((entry) => scripts(WIDGETS + entry.name + "/", `widgets/${entry.name}/`)),
]);
const languages = readdirSync(SCHEMA).map((name) => /^common\.([a-z-]+)\.json$/.exec(name)).filter(Boolean)
  .map((match) => [match[1], JSON.parse(readFileSync(SCHEMA + match[0], "utf8"))]);
const statuses = JSON.parse(readFileSync(SCHEMA + "site.json", "utf8")).statuses;

// The keys a script asks for by name: text("signIn.codeSent"), has("statuses.received").
function asked(source) {
  return [...source.matchAll(/\b(?:text|has)\(\s*"([A-Za-z][\w.-]*)"\s*[,)]/g)].map((m) => m[1]);
}

test("the scripts' texts are all on the page's list", () => {
  for (const [name, source] of Object.entries(sources)) {
    const keys = asked(source);
    if (!PAGES[name]) {
      assert.deepEqual(keys, [], `${name} asks for texts but has no page in PAGES`);
      continue;
    }
    for (const page of PAGES[name]) {
      const listed = new Set([...USED.common, ...USED[page]]);
      assert.deepEqual(keys.filter((key) => !listed.has(key)), [], `${name} asks for texts USED["${page}"] lacks`);
    }
  }
});

test("every listed text is used by a script", () => {
  const all = Object.values(sources).join("\n");
  for (const key of Object.values(USED).flat()) {
    assert.ok(all.includes(`"${key}`) || all.includes(`texts.${key}`), `${key} is listed in USED but no script uses it`);
  }
});

test("missing() names the paths a language lacks", () => {
  assert.ok(languages.length >= 2, "schema/ has its languages");
  assert.deepEqual(missing({ a: { b: "x" } }, ["a.b", "a.c", "b"]), ["a.c", "b"]);
});

for (const [language, common] of languages) {
  test(`schema/common.${language}.json has every text the page code uses`, () => {
    const keys = Object.values(USED).flat();
    assert.deepEqual(missing(common, keys), [], `common.${language}.json lacks these texts`);
    const notText = keys.filter((key) => key !== "statuses" && typeof lookup(common, key) !== "string");
    assert.deepEqual(notText, [], `common.${language}.json has these as something other than text`);
    assert.deepEqual(statuses.filter((s) => typeof common.statuses[s] !== "string"), [],
      `common.${language}.json names no status for these`);
  });

  test(`schema/common.${language}.json has the placeholders of every other language`, () => {
    const names = (template) => [...String(template).matchAll(/\{([A-Za-z][A-Za-z-]*)\}/g)].map((m) => m[1]).sort();
    for (const [other, texts] of languages) {
      for (const key of Object.values(USED).flat().filter((k) => k !== "statuses")) {
        assert.deepEqual(names(lookup(common, key)), names(lookup(texts, key)),
          `"${key}" has other placeholders in ${language} than in ${other}`);
      }
    }
  });
}

test("texts are filled in one pass, by name", () => {
  assert.equal(fill("{a} and {b}", { a: "{b}", b: "x" }), "{b} and x");
  assert.equal(fill("{x-earliest}", { "x-earliest": "today" }), "today");
});
