// The page's checker: the form dialect's keywords and rules, as the handler applies them.
// Pure functions of the page's model and a document, without the DOM, so that node's test runner
// checks them against the official JSON Schema test cases and against the server's verdicts.
// KEYWORDS is in the order a field's failures are reported (handler/dialect.py: KEYWORDS).

import { fieldMessage, fill, ownValue } from "./texts.js";

// The formats' patterns, the same text as the handler's (handler/dialect.py: FORMAT_PATTERNS; a test holds them equal).
export const FORMAT_PATTERNS = {
  "email": "^(?!.*=\\?)[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+)*@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$",
  "uri": "^[A-Za-z][A-Za-z0-9+.\\-]*:[^\\u0000-\\u0020\\u007f-\\u009f\"<>\\\\^`{|}]+$",
  "date": "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
  "local-time": "^([01][0-9]|2[0-3]):[0-5][0-9]$",
  "local-date-time": "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]$",
};
const [EMAIL, URI, DATE, TIME, DATE_TIME] = ["email", "uri", "date", "local-time", "local-date-time"].map(
  (name) => new RegExp(FORMAT_PATTERNS[name], "u"),
);
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

// A finite number as the decimal its shortest representation writes (String(0.07) is "0.07"), exactly:
// [its digits, the power of ten they are scaled by]; null for Infinity and NaN.
function decimal(v) {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(v));
  if (!m) return null;
  const fraction = m[3] || "";
  return [BigInt(m[1] + m[2] + fraction), Number(m[4] || 0) - fraction.length];
}

// Whether `v` is a whole multiple of `step` in decimal arithmetic, as the handler does it
// (handler/schema/values.py: is_multiple): 19.99 is a multiple of 0.01, though 19.99 / 0.01 is 1998.9999999999998.
function multipleOf(v, step) {
  const value = decimal(v);
  const unit = decimal(step);
  if (!value || !unit || unit[0] === 0n) return false;
  const power = Math.min(value[1], unit[1]);
  return (value[0] * 10n ** BigInt(value[1] - power)) % (unit[0] * 10n ** BigInt(unit[1] - power)) === 0n;
}

// A number neither side can compare alike: not finite (JSON's 1e400 is read as Infinity), in a list too.
function unreadableNumber(v) {
  if (typeof v === "number") return !Number.isFinite(v);
  if (Array.isArray(v)) return v.some(unreadableNumber);
  if (v !== null && typeof v === "object") return Object.values(v).some(unreadableNumber);
  return false;
}

// Text holding a lone surrogate, in a value, its items or its members' names (JSON.stringify would
// escape it, so each text is looked at itself).
function brokenText(v) {
  if (typeof v === "string") return BROKEN_TEXT.test(v);
  if (Array.isArray(v)) return v.some(brokenText);
  if (v !== null && typeof v === "object") {
    return Object.keys(v).some(brokenText) || Object.values(v).some(brokenText);
  }
  return false;
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
export function readMoment(moment, typed) {
  const text = typed.trim();
  if (moment === "date") return typedDate(text) || text;
  if (moment === "time") return typedTime(text) || text;
  const m = TYPED_DATE_TIME.exec(text);
  const date = m && typedDate(m[1]);
  const time = m && typedTime(m[2]);
  return date && time ? `${date}T${time}` : text;
}

// ---- Numbers as people type them -----------------------------------------------------------------

// The spaces a group mark that is a space may be typed or pasted as: space, no-break space, narrow
// no-break space (what Intl writes in nb), thin space.
const SPACES = " \u00a0\u202f\u2009";
const escaped = (mark) => mark.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
// A double holds every decimal of up to 15 significant digits exactly; a longer one could change.
const MOST_DIGITS = 15;

// A number as the page's language writes it (`marks`: common's decimalMark and groupMark) as a JSON
// number: nb "1 500,50", "1500,50"; en "1,500.50", "1500.50"; a minus sign ("-" or "−") in front.
// Only the language's own marks are read, and a group mark only between groups of three digits, so
// text that could mean two numbers (en "1,5", nb "1.500") and text longer than a double keeps
// exactly is kept as typed, and the checker words the error: a typed value never changes unseen.
export function readNumber(typed, marks) {
  const text = typed.trim();
  const group = !marks.groupMark ? null
    : SPACES.includes(marks.groupMark) ? `[${SPACES}]` : escaped(marks.groupMark);
  const whole = group ? `\\d+|\\d{1,3}(?:${group}\\d{3})+` : "\\d+";
  const m = new RegExp(`^([-\u2212]?)(${whole})?(?:${escaped(marks.decimalMark)}(\\d+))?$`, "u").exec(text);
  if (!m || (m[2] === undefined && m[3] === undefined)) return text;
  const digits = (m[2] || "0").replace(/\D/gu, "").replace(/^0+(?=\d)/u, "");
  const fraction = m[3] || "";
  const significant = (digits + fraction).replace(/^0+/u, "").replace(/0+$/u, "");
  if (digits.length > MOST_DIGITS || significant.length > MOST_DIGITS) return text;
  return Number(`${m[1] ? "-" : ""}${digits}.${fraction || "0"}`);
}

// ---- The form: branches, required fields and cross-field rules ---------------------------------

// One test of a branch, as JSON Schema evaluates its `if` (handler/schema/model.py: Condition.holds):
// [field, value] holds when the field has the value (JSON equality: true is not 1); [field, value,
// "contains"] when the list holds it (contains tests only a list, so another value passes it).
function test([field, value, kind], data) {
  const v = ownValue(data, field);
  if (v === undefined) return false;
  if (kind === "contains") return !Array.isArray(v) || v.some((item) => canonical(item) === canonical(value));
  return canonical(v) === canonical(value);
}

const holds = (path, data) => path.every((condition) => test(condition, data));

// A choice as the page reads it from its control (an option's value, a text) as the schema's value:
// the option whose JSON is that text when the choices are numbers, so a number is sent as a number.
export function readChoice(options, raw) {
  if (raw === undefined || !Array.isArray(options) || options.includes(raw)) return raw;
  let parsed;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    return raw;
  }
  const found = options.find((option) => typeof option !== "string" && canonical(option) === canonical(parsed));
  return found === undefined ? raw : found;
}
export const isShown = (field, data) => field.shownWhen.some((path) => holds(path, data));
export const isRequired = (field, data) => field.requiredWhen.some((path) => holds(path, data));

// Whether the office is closed all day on `day` (YYYY-MM-DD): `closed` lists the days by year, {"2027": ["05-17"]}.
function closedOn(closed, day) {
  const days = ownValue(closed, day.slice(0, 4));
  return Array.isArray(days) && days.includes(day.slice(5));
}

function officeHoursContain(hours, start, end) {
  // A window over midnight, or on a public holiday, always reaches outside office hours.
  if (start.slice(0, 10) !== end.slice(0, 10) || closedOn(hours.closed, start.slice(0, 10))) return false;
  const [y, m, d] = start.slice(0, 10).split("-").map(Number);
  const day = new Date(0);
  day.setUTCFullYear(y, m - 1, d); // Date.UTC would read the years 0 to 99 as 1900 to 1999
  const weekday = day.getUTCDay() || 7;
  return hours.days.includes(weekday) && hours.opens <= start.slice(11) && end.slice(11) <= hours.closes;
}

// The schema's x-rules, as handler/rules.py implements them.
export function ruleHolds(rule, data, clocks) {
  const v = ownValue(data, rule.field);
  const other = ownValue(data, rule.other);
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
  // Maps, and own members of `data` only: a field may be named "constructor".
  const byName = new Map(model.fields.map((f) => [f.name, f]));
  const clocks = (timeZone) => wallClock(now, timeZone);
  const found = new Map();
  const report = (name, keyword, value) => {
    if (found.has(name)) return;
    const field = byName.get(name);
    const worded = model.messages;
    const template = field ? fieldMessage(field, keyword, worded) : fill(worded[keyword], { label: name });
    found.set(name, { field: name, keyword, message: fill(template, { value: isString(value) ? short(value) : "" }) });
  };
  const belongs = (name) => byName.has(name) && isShown(byName.get(name), data);

  for (const field of model.fields) {
    if (!isShown(field, data)) continue;
    const v = ownValue(data, field.name);
    if (v === undefined) {
      if (isRequired(field, data)) report(field.name, "required");
      continue;
    }
    if (brokenText(v)) {
      report(field.name, "x-text");
      continue;
    }
    if (unreadableNumber(v)) {
      report(field.name, "x-number");
      continue;
    }
    const now = clocks(model.timeZone);
    const own = failure(withoutMoments(field.schema), v, now);
    if (own) {
      report(field.name, own, v);
      continue;
    }
    if (Array.isArray(v) && field.items) {
      for (const item of v) {
        const bad = failure(field.items, item, now);
        if (bad) {
          report(field.name, bad, item);
          break;
        }
      }
    }
  }
  const failedBefore = new Set(found.keys());
  for (const name of Object.keys(data)) {
    if (belongs(name)) continue;
    const known = byName.get(name);
    const choosers = known ? known.shownWhen.flat().map(([field]) => field) : [];
    if (!known || choosers.every((c) => !failedBefore.has(c))) report(name, "unevaluatedProperties");
  }
  for (const field of model.fields) {
    const v = ownValue(data, field.name);
    if (found.has(field.name) || !isString(v) || !isShown(field, data)) continue;
    const moments = { "x-earliest": field.schema["x-earliest"], "x-latest": field.schema["x-latest"] };
    const bad = failure(Object.fromEntries(Object.entries(moments).filter(([, x]) => x !== undefined)), v,
      clocks(model.timeZone));
    if (bad) report(field.name, bad);
  }
  const failedOwn = new Set(found.keys()); // each rule sees only the fields' own failures
  for (const rule of model.rules) {
    const names = [rule.field, rule.other].filter(Boolean);
    const ready = names.every((n) => ownValue(data, n) !== undefined && !failedOwn.has(n) && belongs(n));
    if (ready && !ruleHolds(rule, data, clocks)) report(rule.field, "x-" + rule.rule);
  }
  const order = model.fields.map((f) => f.name);
  const rank = (name) => (order.includes(name) ? order.indexOf(name) : order.length);
  return [...found.values()].sort((a, b) => rank(a.field) - rank(b.field));
}

function withoutMoments(schema) {
  const rest = { ...schema };
  delete rest["x-earliest"];
  delete rest["x-latest"];
  return rest;
}
