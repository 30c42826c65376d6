// Shared by every page: the page's model, the session kept in this browser tab, calls to the API,
// the account links in the header, and the error summary (GOV.UK's pattern).
import { text, useTexts } from "./texts.js";

var modelElement = document.getElementById("page-model");
export var model = modelElement ? JSON.parse(modelElement.textContent) : {};
useTexts(model.texts, model.language);

var SESSION_KEY = "servicedesk-forms-session";
var DRAFT_PREFIX = "servicedesk-forms-draft:";

// ---- The session: one per browser, shared by its tabs (docs/api.md says where it lives) ----
// The session itself is a cookie no script can read; this browser keeps only who is signed in and until when,
// to draw the page. An entry that holds a token (as before the cookie) is dropped: sign in again.

export function session() {
  try {
    var stored = JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
    if (stored && !stored.token && stored.contact && Date.parse(stored.expiresAt) > Date.now()) return stored;
  } catch (e) { /* a damaged entry counts as signed out */ }
  localStorage.removeItem(SESSION_KEY);
  return null;
}

export function saveSession(answer) {
  localStorage.setItem(SESSION_KEY, JSON.stringify({ expiresAt: answer.expiresAt, contact: answer.contact }));
  if (answer.contact) localStorage.removeItem(SIGNED_OUT_PREFIX + answer.contact.email.toLowerCase());
}

// The session ended on the server (expired, or the key changed): forget it, keep the drafts.
function forgetSession() { localStorage.removeItem(SESSION_KEY); }

// Signing out forgets the session and every draft in this browser, so the next person sees none; it
// leaves a mark, so that a page the contact still has open in another tab saves no draft of theirs again.
var SIGNED_OUT_PREFIX = "servicedesk-forms-signed-out:";
var leaving = false;
export function signOut() {
  leaving = true;
  var current = session();
  if (current && current.contact) localStorage.setItem(SIGNED_OUT_PREFIX + current.contact.email.toLowerCase(), "1");
  forgetSession();
  Object.keys(localStorage).forEach(function (key) {
    if (key.indexOf(DRAFT_PREFIX) === 0) localStorage.removeItem(key);
  });
}

// Where a form's draft is kept for a contact ("" while signed out).
export function draftKey(form, email) { return DRAFT_PREFIX + form + ":" + email.toLowerCase(); }

// ---- The API ---------------------------------------------------------------------------------

// Resolves to {status, body}; rejects only when the service cannot be reached.
export function api(method, path, body, headers) {
  // The header tells the API the call comes from this page (with the Origin, what a forged call cannot show).
  var all = { "Accept-Language": model.language, "X-Requested-With": "servicedesk-forms" };
  if (body !== undefined) all["Content-Type"] = "application/json";
  Object.keys(headers || {}).forEach(function (name) { all[name] = headers[name]; });
  return fetch(model.apiBase + path, {
    method: method, headers: all, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body)
  }).then(function (response) {
    return response.json().catch(function () { return null; }).then(function (parsed) {
      if (response.status === 401) {
        forgetSession();
        showAccount();
      }
      return { status: response.status, body: parsed, retryAfter: Number(response.headers.get("Retry-After")) || 0 };
    });
  });
}

// ---- The header's account links ----------------------------------------------------------------

// The header tells the truth about the session: called on load and whenever the session ends.
export function showAccount() {
  var area = document.getElementById("site-account");
  if (!area) return;
  var current = session();
  area.querySelector("[data-signed-in]").hidden = !current;
  area.querySelector("[data-signed-out]").hidden = !!current;
  if (current) {
    area.querySelector("[data-name]").textContent = text("account.signedInAs", {
      name: current.contact ? current.contact.name : ""
    });
  }
}

function listenForSignOut() {
  var button = document.querySelector("#site-account [data-sign-out]");
  if (!button) return;
  button.addEventListener("click", function () {
    // Ends the session on the server too (every session of the contact); the page signs out either way.
    var done = function () {
      signOut();
      location.reload();
    };
    api("DELETE", "/v1/session").then(done, done);
  });
}

// ---- Errors: summary at the top, message at each field ---------------------------------------

export function errors(container) {
  var summary = document.getElementById("error-summary");
  var list = summary.querySelector("ul");

  function group(name) { return container.querySelector('[data-field="' + name + '"]'); }

  function describedBy(control, id, on) {
    var ids = (control.getAttribute("aria-describedby") || "").split(" ").filter(function (x) {
      return x && x !== id;
    });
    if (on) ids.push(id);
    if (ids.length) control.setAttribute("aria-describedby", ids.join(" "));
    else control.removeAttribute("aria-describedby");
  }

  var titlePrefix = text("errorPrefix") + " ";

  function clear() {
    summary.hidden = true;
    if (document.title.indexOf(titlePrefix) === 0) document.title = document.title.slice(titlePrefix.length);
    list.textContent = "";
    container.querySelectorAll(".form-group--error").forEach(function (g) {
      g.classList.remove("form-group--error");
    });
    container.querySelectorAll(".error-message").forEach(function (p) { p.hidden = true; });
    container.querySelectorAll("[aria-invalid]").forEach(function (c) { c.removeAttribute("aria-invalid"); });
    container.querySelectorAll("[aria-describedby]").forEach(function (c) {
      (c.getAttribute("aria-describedby") || "").split(" ").forEach(function (id) {
        if (/-error$/.test(id)) describedBy(c, id, false);
      });
    });
  }

  function mark(name, message) {
    var element = group(name);
    element.classList.add("form-group--error");
    var text = document.getElementById(name + "-error");
    text.querySelector(".error-message__text").textContent = message;
    text.hidden = false;
    var fieldset = element.querySelector("fieldset");
    if (fieldset) {
      describedBy(fieldset, name + "-error", true);
      return;
    }
    element.querySelectorAll("input, select, textarea").forEach(function (control) {
      control.setAttribute("aria-invalid", "true");
      describedBy(control, name + "-error", true);
    });
  }

  // Move focus to the field and bring its label or legend into view.
  function focus(name) {
    var element = group(name);
    var label = element.querySelector("legend, label");
    document.getElementById(name).focus({ preventScroll: true });
    (label || element).scrollIntoView();
  }

  // problems: [{field, message}]; one without a field of this page is listed without a link.
  function show(problems) {
    clear();
    var linked = {};
    problems.forEach(function (problem) {
      var element = problem.field ? group(problem.field) : null;
      var field = element && !element.hidden ? problem.field : null;
      // One message per field, except files: each refused file is named in the summary.
      if (field && linked[field] && !problem.each) return;
      var item = document.createElement("li");
      if (problem.href) {
        var away = document.createElement("a");
        away.href = problem.href;
        away.textContent = problem.message;
        item.appendChild(away);
      } else if (field) {
        linked[field] = true;
        var link = document.createElement("a");
        link.href = "#" + field;
        link.textContent = problem.message;
        link.addEventListener("click", function (event) {
          event.preventDefault();
          focus(field);
        });
        item.appendChild(link);
        if (!element.classList.contains("form-group--error")) mark(field, problem.message);
      } else {
        item.textContent = problem.message;
      }
      list.appendChild(item);
    });
    // "There is something to correct" only when there is: otherwise the summary says what went wrong.
    var fixable = problems.some(function (problem) { return problem.field && group(problem.field); });
    summary.querySelector("h2").textContent = fixable ? text("errorSummaryTitle") : text("problemTitle");
    summary.hidden = false;
    if (document.title.indexOf(titlePrefix) !== 0) document.title = titlePrefix + document.title;
    summary.focus();
  }

  // The problems in an API answer's problem details (RFC 9457): the fields at fault, or its detail.
  function fromAnswer(answer) {
    var problem = answer.body;
    if (!problem || !problem.code) return [{ message: text("api.internal_error") }];
    var fields = (problem.errors || []).filter(function (e) { return e.field; });
    if (!fields.length) return [{ message: problem.detail }];
    return fields.map(function (e) { return { field: e.field, message: e.detail }; });
  }

  return { show: show, clear: clear, fromAnswer: fromAnswer, group: group };
}

// Before the session ends, say so: what is typed is kept, and signing in again takes a minute.
function warnBeforeExpiry() {
  var current = session();
  var notice = document.getElementById("session-ending");
  if (!current || !notice) return;
  var left = Date.parse(current.expiresAt) - Date.now();
  var warnIn = left - 5 * 60 * 1000;
  setTimeout(function () {
    if (!session()) return;
    notice.hidden = false;
    // As many minutes as are left, rounded up: a page opened with four left says four.
    var minutes = Math.max(1, Math.ceil((Date.parse(current.expiresAt) - Date.now()) / 60000));
    notice.querySelector("[data-text]").textContent = text("sessionEnding", { minutes: String(minutes) });
  }, Math.max(0, warnIn));
  // When it has ended, the header says so (no other tab tells this one: nothing in storage changed).
  setTimeout(function () {
    notice.hidden = true;
    showAccount();
  }, Math.min(left + 1000, 2147483647));
}

// Another tab signed in or out: this one follows.
window.addEventListener("storage", function (event) {
  if (event.key === SESSION_KEY) showAccount();
});

// Whether this page is signing out, or ``email`` signed out in another tab (then no draft of theirs is saved).
export function signedOut(email) {
  return leaving || (!!email && localStorage.getItem(SIGNED_OUT_PREFIX + email) !== null);
}

showAccount();
listenForSignOut();
warnBeforeExpiry();
