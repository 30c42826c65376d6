// The page's checker: the form dialect's keywords and rules, as the handler applies them.
// Pure functions of the page's model and a document, without the DOM, so that node's test runner
// checks them against the official JSON Schema test cases and against the server's verdicts.
// KEYWORDS is in the order a field's failures are reported (handler/dialect.py: KEYWORDS).

import { fill } from "./texts.js";

const EMAIL = new RegExp(
  "^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?" +
    "(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$", "u");
const DATE = /^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$/u;
const TIME = /^([01][0-9]|2[0-3]):[0-5][0-9]$/u;
const DATE_TIME = /^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]$/u;
const URI = /^[A-Za-z][A-Za-z0-9+.\-]*:[^\u0000-\u0020\u007f-\u009f"<>\\^`{|}]+$/u;
// A lone surrogate: text that cannot be stored or mailed.
const BROKEN_TEXT = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const isNumber = (v) => typeof v === "number";
const isString = (v) => typeof v === "string";

// The JSON types of a value, as JSON Schema names them.
export function typeOf(v) {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v; // "string", "boolean", "object"
}

function hasType(v, type) {
  const actual = typeOf(v);
  return actual === type || (type === "number" && actual === "integer");
}

// JSON equality: 1 and 1.0 are equal, true and 1 are not, object keys in any order.
export function canonical(v) {
  if (Array.isArray(v)) return "[" + v.map(canonical).join(",") + "]";
  if (v !== null && typeof v === "object") {
    return "{" + Object.keys(v).sort().map((k) => JSON.stringify(k) + ":" + canonical(v[k])).join(",") + "}";
  }
  return JSON.stringify(v);
}

export function isCalendarDate(text) {
  const [y, m, d] = text.split("-").map(Number);
  if (y < 1) return false;
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  return d <= [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];
}

const FORMATS = {
  email: (v) => EMAIL.test(v),
  uri: (v) => URI.test(v),
  date: (v) => DATE.test(v) && isCalendarDate(v),
  "local-time": (v) => TIME.test(v),
  "local-date-time": (v) => DATE_TIME.test(v) && isCalendarDate(v.slice(0, 10)),
};

function multipleOf(v, step) {
  if (Number.isInteger(step) && Number.isInteger(v)) return v % step === 0;
  const quotient = v / step;
  return Number.isFinite(quotient) ? Number.isInteger(quotient) : false;
}

// Each keyword: whether `v` satisfies it. A keyword ignores values of types it does not check.
export const KEYWORDS = {
  type: (limit, v) => hasType(v, limit),
  enum: (limit, v) => limit.some((option) => canonical(option) === canonical(v)),
  const: (limit, v) => canonical(limit) === canonical(v),
  format: (limit, v) => !isString(v) || !FORMATS[limit] || FORMATS[limit](v),
  minLength: (limit, v) => !isString(v) || Array.from(v).length >= limit,
  maxLength: (limit, v) => !isString(v) || Array.from(v).length <= limit,
  pattern: (limit, v) => !isString(v) || new RegExp(limit, "u").test(v),
  minimum: (limit, v) => !isNumber(v) || v >= limit,
  exclusiveMinimum: (limit, v) => !isNumber(v) || v > limit,
  maximum: (limit, v) => !isNumber(v) || v <= limit,
  exclusiveMaximum: (limit, v) => !isNumber(v) || v < limit,
  multipleOf: (limit, v) => !isNumber(v) || multipleOf(v, limit),
  minItems: (limit, v) => !Array.isArray(v) || v.length >= limit,
  maxItems: (limit, v) => !Array.isArray(v) || v.length <= limit,
  uniqueItems: (limit, v) => !Array.isArray(v) || !limit || new Set(v.map(canonical)).size === v.length,
  "x-earliest": (limit, v, now) => !isString(v) || v >= moment(limit, v, now),
  "x-latest": (limit, v, now) => !isString(v) || v <= moment(limit, v, now),
};

// An x-earliest/x-latest limit as text comparable with `v`: "today" and "now" on the form's clocks.
function moment(limit, v, now) {
  if (limit === "today") return now.slice(0, 10);
  if (limit === "now") return now.slice(0, v.length);
  return limit;
}

// The first keyword of `schema` that `v` fails, in the registry's order, or null.
export function failure(schema, v, now) {
  for (const keyword of Object.keys(KEYWORDS)) {
    if (keyword in schema && !KEYWORDS[keyword](schema[keyword], v, now || "")) return keyword;
  }
  return null;
}

// `now` as YYYY-MM-DDTHH:MM on the clocks of `timeZone`.
export function wallClock(now, timeZone) {
  const parts = {};
  new Intl.DateTimeFormat("en-CA", {
    timeZone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).formatToParts(now).forEach((p) => { parts[p.type] = p.value; });
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

// ---- Dates and times as people type them -------------------------------------------------------

const TYPED_DATE = /^(\d{1,2})[./-](\d{1,2})[./-](\d{4})$/u;
const TYPED_TIME = /^(\d{1,2})[:.](\d{2})$/u;
const TYPED_DATE_TIME = /^(\S+?)(?:T|,?\s+(?:kl\.?\s*|at\s+)?)(\d{1,2}[:.]\d{2})$/iu;
const pad = (digits) => digits.padStart(2, "0");

function typedDate(text) {
  if (DATE.test(text)) return text;
  const m = TYPED_DATE.exec(text);
  return m ? `${m[3]}-${pad(m[2])}-${pad(m[1])}` : null;
}

function typedTime(text) {
  const m = TYPED_TIME.exec(text);
  return m ? `${pad(m[1])}:${m[2]}` : null;
}

// A date, time or date-time as typed in either language's style ("31.12.2026", "31/12/2026",
// "14.30", "31.12.2026 kl. 14:30", or ISO) as the schema's value ("2026-12-31", "14:30",
// "2026-12-31T14:30"). Text it cannot read is kept as typed, so the checker words the error.
export function readMoment(widget, typed) {
  const text = typed.trim();
  if (widget === "date") return typedDate(text) || text;
  if (widget === "time") return typedTime(text) || text;
  const m = TYPED_DATE_TIME.exec(text);
  const date = m && typedDate(m[1]);
  const time = m && typedTime(m[2]);
  return date && time ? `${date}T${time}` : text;
}

// ---- The form: branches, required fields and cross-field rules ---------------------------------

const holds = (path, data) => path.every(([field, value]) => data[field] === value);
export const isShown = (field, data) => field.shownWhen.some((path) => holds(path, data));
export const isRequired = (field, data) => field.requiredWhen.some((path) => holds(path, data));

function officeHoursContain(hours, start, end) {
  if (start.slice(0, 10) !== end.slice(0, 10)) return false;
  const [y, m, d] = start.slice(0, 10).split("-").map(Number);
  const day = new Date(0);
  day.setUTCFullYear(y, m - 1, d); // Date.UTC would read the years 0 to 99 as 1900 to 1999
  const weekday = day.getUTCDay() || 7;
  return hours.days.includes(weekday) && hours.opens <= start.slice(11) && end.slice(11) <= hours.closes;
}

// The schema's x-rules, as handler/rules.py implements them.
export function ruleHolds(rule, data, clocks) {
  const v = data[rule.field];
  const other = data[rule.other];
  if ((rule.rule === "after" || rule.rule === "not-before") && typeof v !== typeof other) return true;
  if (rule.rule === "after") return v > other;
  if (rule.rule === "not-before") return v >= other;
  if (rule.rule === "outside-office-hours") return !officeHoursContain(rule.officeHours, String(other), String(v));
  if (rule.rule === "not-past") return String(v) >= clocks(rule.timeZone || "UTC").slice(0, String(v).length);
  return true;
}

// A value for an error text, cut at 60 characters.
export function short(value) {
  const chars = Array.from(value === undefined || value === null ? "" : String(value));
  return chars.length <= 60 ? chars.join("") : chars.slice(0, 59).join("") + "…";
}

// Every field's first problem in `data`, as the handler reports it: [{field, keyword, message}],
// in the order of the page. `now` is a Date.
export function validate(model, data, now) {
  const byName = Object.fromEntries(model.fields.map((f) => [f.name, f]));
  const clocks = (timeZone) => wallClock(now, timeZone);
  const found = {};
  const report = (name, keyword, value) => {
    if (found[name]) return;
    const field = byName[name];
    const template = field ? field.messages[keyword] : fill(model.messages[keyword], { label: name });
    found[name] = { field: name, keyword, message: fill(template, { value: isString(value) ? short(value) : "" }) };
  };
  const belongs = (name) => byName[name] && isShown(byName[name], data);

  for (const field of model.fields) {
    if (!isShown(field, data)) continue;
    const v = data[field.name];
    if (v === undefined) {
      if (isRequired(field, data)) report(field.name, "required");
      continue;
    }
    if (BROKEN_TEXT.test(JSON.stringify(v))) {
      report(field.name, "x-text");
      continue;
    }
    const now = clocks(model.timeZone);
    const own = failure(withoutMoments(field.schema), v, now);
    if (own) {
      report(field.name, own, v);
      continue;
    }
    if (Array.isArray(v)) {
      for (const item of v) {
        const bad = failure(field.items, item, now);
        if (bad) {
          report(field.name, bad, item);
          break;
        }
      }
    }
  }
  const failedBefore = new Set(Object.keys(found));
  for (const name of Object.keys(data)) {
    if (belongs(name)) continue;
    const known = byName[name];
    const choosers = known ? known.shownWhen.flat().map(([field]) => field) : [];
    if (!known || choosers.every((c) => !failedBefore.has(c))) report(name, "unevaluatedProperties");
  }
  for (const field of model.fields) {
    const v = data[field.name];
    if (found[field.name] || !isString(v) || !isShown(field, data)) continue;
    const moments = { "x-earliest": field.schema["x-earliest"], "x-latest": field.schema["x-latest"] };
    const bad = failure(Object.fromEntries(Object.entries(moments).filter(([, x]) => x !== undefined)), v,
      clocks(model.timeZone));
    if (bad) report(field.name, bad);
  }
  const failedOwn = new Set(Object.keys(found)); // each rule sees only the fields' own failures
  for (const rule of model.rules) {
    const names = [rule.field, rule.other].filter(Boolean);
    const ready = names.every((n) => data[n] !== undefined && !failedOwn.has(n) && belongs(n));
    if (ready && !ruleHolds(rule, data, clocks)) report(rule.field, "x-" + rule.rule);
  }
  const order = model.fields.map((f) => f.name);
  const rank = (name) => (order.includes(name) ? order.indexOf(name) : order.length);
  return Object.values(found).sort((a, b) => rank(a.field) - rank(b.field));
}

function withoutMoments(schema) {
  const rest = { ...schema };
  delete rest["x-earliest"];
  delete rest["x-latest"];
  return rest;
}
