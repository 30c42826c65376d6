// The sign-in page: ask for a one-time code by e-mail, then exchange it for a session.
import { api, errors, model, saveSession, showAccount } from "./common.js";
import { text } from "./texts.js";

var emailStep = document.getElementById("email-step");
var codeStep = document.getElementById("code-step");
var emailErrors = errors(emailStep);
var codeErrors = errors(codeStep);
var email = document.getElementById("email");
var code = document.getElementById("code");
var emailPattern = new RegExp(model.emailPattern, "u");

// Where to go afterwards: only pages of this site, named by the page itself, never a free address.
function next() {
  var wanted = new URLSearchParams(location.search).get("next");
  return model.pages.indexOf(wanted) !== -1 ? "../" + wanted + "/" : "../my-requests/";
}

function busy(form, on) {
  form.querySelector("button[type=submit]").disabled = on;
  form.querySelector(".status").textContent = on ? text("sending") : "";
}

function failed(errors, form) {
  return function () {
    busy(form, false);
    errors.show([{ message: text("networkError") }]);
  };
}

emailStep.addEventListener("submit", function (event) {
  event.preventDefault();
  var value = email.value.trim();
  if (!value) return emailErrors.show([{ field: "email", message: text("signIn.emailRequired") }]);
  if (!emailPattern.test(value)) return emailErrors.show([{ field: "email", message: text("signIn.emailFormat") }]);
  emailErrors.clear();
  busy(emailStep, true);
  askForCode(value, emailErrors, emailStep, "signIn.codeSent");
});

// How long to wait, from the answer's Retry-After, in words.
function waiting(answer) {
  if (!answer.retryAfter) return "";
  var minutes = Math.max(1, Math.ceil(answer.retryAfter / 60));
  return " " + (minutes === 1 ? text("signIn.waitMinute") : text("signIn.waitMinutes", { minutes: String(minutes) }));
}

function askForCode(address, errors, form, sentText) {
  api("POST", "/v1/session/code", { email: address }).then(function (answer) {
    busy(form, false);
    if (answer.status !== 202) {
      var problems = errors.fromAnswer(answer);
      if (answer.status === 429) problems = [{ message: problems[0].message + waiting(answer) }];
      return errors.show(problems);
    }
    codeErrors.clear();
    document.getElementById("code-sent").textContent = text(sentText, { email: address });
    emailStep.hidden = true;
    codeStep.hidden = false;
    code.value = "";
    code.focus();
  }, failed(errors, form));
}

codeStep.addEventListener("submit", function (event) {
  event.preventDefault();
  var value = code.value.replace(/\s+/g, "");
  if (!value) return codeErrors.show([{ field: "code", message: text("signIn.codeRequired") }]);
  if (!/^[0-9]{6}$/.test(value)) return codeErrors.show([{ field: "code", message: text("signIn.codeFormat") }]);
  codeErrors.clear();
  busy(codeStep, true);
  api("POST", "/v1/session", { email: email.value.trim(), code: value }).then(function (answer) {
    busy(codeStep, false);
    if (answer.status === 429) {
      return codeErrors.show([{ message: codeErrors.fromAnswer(answer)[0].message + waiting(answer) }]);
    }
    if (answer.status === 401 || answer.status === 400) {
      // A wrong or used-up code is marked at the field it came from.
      return codeErrors.show([{ field: "code", message: codeErrors.fromAnswer(answer)[0].message }]);
    }
    if (answer.status !== 200) return codeErrors.show(codeErrors.fromAnswer(answer));
    saveSession(answer.body);
    location.assign(next());
  }, failed(codeErrors, codeStep));
});

// ---- Signing in with the organization's own account (docs/api.md) -----------------------------
// The providers are the server's to declare: their buttons are drawn from its list. Coming back, the address
// says how it went (?sso=done, or why not), and where the person was going.

var ssoMessages = {
  done: "signIn.ssoSigningIn", denied: "signIn.ssoDenied", not_authorized: "signIn.ssoNotAuthorized",
  email: "signIn.ssoUnverified"
};

function showProviders() {
  api("GET", "/v1/session/sso").then(function (answer) {
    var found = answer.status === 200 && answer.body ? answer.body.providers : [];
    if (!found.length) return;
    var list = document.getElementById("sso-providers");
    var back = new URL(next(), location.href).pathname;
    found.forEach(function (provider) {
      var link = document.createElement("a");
      link.className = "button button--link button--secondary";
      link.href = model.apiBase + "/v1/session/sso/" + encodeURIComponent(provider.id) + "?next=" + encodeURIComponent(back);
      link.textContent = provider.label[model.language] || provider.organization;
      var item = document.createElement("li");
      item.appendChild(link);
      list.appendChild(item);
    });
    document.getElementById("sso").hidden = false;
  }, function () { /* the code by e-mail stays */ });
}

function cameBack(outcome) {
  var back = new URLSearchParams(location.search).get("next") || "";
  if (outcome !== "done") {
    emailErrors.show([{ message: text(ssoMessages[outcome] || "signIn.ssoFailed") }]);
    return showProviders();
  }
  var status = document.getElementById("sso-status");
  status.textContent = text("signIn.ssoSigningIn");
  status.hidden = false;
  api("GET", "/v1/session").then(function (answer) {
    if (answer.status !== 200) {
      status.hidden = true;
      emailErrors.show([{ message: text("signIn.ssoFailed") }]);
      return showProviders();
    }
    saveSession(answer.body);
    showAccount();
    // Only a path of this site: never another address, whatever the query says.
    location.assign(/^\/(?![\/\\])/.test(back) ? back : next());
  }, failed(emailErrors, emailStep));
}

var outcome = new URLSearchParams(location.search).get("sso");
if (outcome) cameBack(outcome); else showProviders();
emailStep.hidden = false;

document.getElementById("new-code").addEventListener("click", function () {
  busy(codeStep, true);
  askForCode(email.value.trim(), codeErrors, codeStep, "signIn.newCodeSent");
});

document.getElementById("other-address").addEventListener("click", function () {
  codeErrors.clear();
  code.value = "";
  codeStep.hidden = true;
  emailStep.hidden = false;
  email.focus();
});
