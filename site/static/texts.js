// The page's texts: looked up by their path in schema/common.<lang>.json ("signIn.codeSent") and
// filled in. USED lists every text the page code asks for: the build embeds those a page needs in its
// model and refuses a language that lacks one, and tests/pages/js/texts.test.js holds the scripts to the list.

export const USED = {
  common: ["account.signedInAs", "api.internal_error", "errorPrefix", "errorSummaryTitle", "problemTitle", "sessionEnding"],
  form: [
    "characterCount.over", "characterCount.overOne", "characterCount.remaining", "characterCount.remainingOne",
    "decimalMark", "draft.confirmClear", "draft.conflict",
    "draft.formCleared", "draft.restoredUnnamed", "draft.sessionExpired", "draft.signInToSend",
    "draft.uploadExpired", "groupMark", "networkError", "receipt.announce", "receipt.copied", "receipt.heading",
    "receipt.mailed", "sending", "upload.remove", "upload.removed", "upload.uploaded", "upload.uploading", "upload.waiting",
  ],
  "sign-in": [
    "networkError", "sending", "signIn.codeFormat", "signIn.codeRequired", "signIn.codeSent", "signIn.emailFormat",
    "signIn.emailRequired", "signIn.newCodeSent", "signIn.ssoDenied", "signIn.ssoFailed", "signIn.ssoNotAuthorized",
    "signIn.ssoSigningIn", "signIn.ssoUnverified", "signIn.waitMinute", "signIn.waitMinutes",
  ],
  "my-requests": [
    "conversation.closed", "conversation.required", "conversation.sent", "conversation.statusChanged",
    "conversation.wrote", "conversation.you", "sending", "upload.remove", "upload.removed", "upload.uploaded",
    "upload.uploading", "upload.waiting",
    "myRequests.empty", "myRequests.loading", "myRequests.newRequest", "myRequests.received", "myRequests.reference",
    "myRequests.service",
    "myRequests.status", "myRequests.subject", "myRequests.updated", "networkError", "statuses",
  ],
  "stop-emails": [
    "networkError", "sending", "stopEmails.done", "stopEmails.invalid", "stopEmails.question",
  ],
};

const PLACEHOLDER = /\{([A-Za-z][A-Za-z-]*)\}/g;

// `template` with each {name} replaced in one pass (a value is never read as a template); names
// without a value stay as they are. The same rule as handler/texts.py.
export function fill(template, params) {
  return String(template).replace(PLACEHOLDER, (whole, name) =>
    Object.prototype.hasOwnProperty.call(params, name) ? params[name] : whole);
}

// A field's error text for `keyword` with all but {value} filled in, as the handler words it: the field's own
// (`field.messages`), or else the language's text for the keyword (`worded`) with the field's label, which the
// page model gives once for every field whose message it is (build.py: form_model).
export function fieldMessage(field, keyword, worded) {
  const own = ownValue(field.messages, keyword);
  return own !== undefined ? own : fill(ownValue(worded, keyword), { label: field.label });
}

// `object[key]` if `object` has `key` of its own, else undefined: a field name or value such as
// "constructor" or "toString" never reads a member every object inherits.
export function ownValue(object, key) {
  return object !== null && typeof object === "object" && Object.prototype.hasOwnProperty.call(object, key)
    ? object[key] : undefined;
}

// The text or section at a dotted path, or undefined.
export function lookup(source, key) {
  return key.split(".").reduce((node, part) =>
    (node !== null && typeof node === "object" && Object.prototype.hasOwnProperty.call(node, part) ? node[part] : undefined), source);
}

// The keys of `keys` that `source` lacks.
export function missing(source, keys) {
  return keys.filter((key) => lookup(source, key) === undefined);
}

let texts = {};
let language = "";

function complain(key) {
  console.error(`Missing text "${key}": schema/common.${language}.json lacks it, or build.py does not put it on this page.`);
}

// Takes the page's texts (the build has made sure they hold every text USED lists for the page).
export function useTexts(source, lang) {
  texts = source || {};
  language = lang;
}

// Whether the page has a text, for texts chosen by data (a status's name).
export function has(key) {
  return typeof lookup(texts, key) === "string";
}

// The text at `key`, filled with `params`; a missing text is reported and shown as its key.
export function text(key, params) {
  const found = lookup(texts, key);
  if (typeof found !== "string") {
    complain(key);
    return key;
  }
  return params ? fill(found, params) : found;
}
