// The sign-in page: ask for a one-time code by e-mail, then exchange it for a session.
import { api, errors, model, saveSession } from "./common.js";
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
