// The form page's behaviour, driven by the model build.py embeds from the schema: show the fields
// of the chosen branch, read each field as the schema expects its value, check the document with
// the page's checker (checks.js, the same rules and messages as the handler), show an error
// summary, and submit the request as JSON.
import { isShown, readChoice, readMoment, readNumber, validate } from "./checks.js";
import * as page from "./common.js";
import { fill, ownValue, text } from "./texts.js";
import * as uploads from "../widgets/attachments/uploads.js";

(function () {
  var model = page.model;
  var form = document.getElementById("request-form");
  var errors = page.errors(form);
  var statusLine = form.querySelector(".status");
  var button = form.querySelector("button[type=submit]");
  // One key per filled-in form: a retry after a lost answer returns the first receipt.
  var idempotencyKey = newKey();

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return String(Date.now()) + "-" + Math.random().toString(36).slice(2);
  }

  function group(name) { return errors.group(name); }

  function controls(name) { return group(name).querySelectorAll("input, select, textarea"); }

  // ---- Reading values as the schema expects them -------------------------------------------

  function checked(field) {
    return Array.prototype.filter.call(controls(field.name), function (c) { return c.checked; })
      .map(function (c) { return c.value; });
  }

  // A number as the page's language writes it (common's decimalMark and groupMark); text that cannot
  // be read as one number is kept as typed, so the checker words the error at the field.
  var marks = { decimalMark: text("decimalMark"), groupMark: text("groupMark") };
  function number(control) {
    var raw = control.value.trim();
    return raw === "" ? undefined : readNumber(raw, marks);
  }

  function value(field) {
    var first = controls(field.name)[0];
    if (field.value === "uploads") {
      var ids = uploads.ids(field.name);
      return ids.length ? ids : undefined;
    }
    if (field.value === "number") return number(first);
    if (field.value === "choice") return readChoice(field.schema.enum, checked(field)[0]);
    if (field.value === "boolean") {
      var answer = checked(field)[0];
      return answer === undefined ? undefined : answer === "true";
    }
    if (field.value === "choices") {
      var chosen = checked(field);
      return chosen.length ? chosen : undefined;
    }
    var raw = first.value.trim();
    if (field.value === "list") {
      // Addresses are compared without regard to case, so the same person is never mailed twice.
      var list = raw.split(/[\s,;]+/).filter(function (part) { return part !== ""; });
      if (field.items.format === "email") list = list.map(function (part) { return part.toLowerCase(); });
      return list.length ? list : undefined;
    }
    if (raw === "") return undefined;
    if (field.moment) return readMoment(field.moment, raw);
    return readChoice(field.schema.enum, raw); // a list's choices that are numbers as numbers
  }

  function collect() {
    var data = {};
    model.fields.forEach(function (field) {
      if (!isShown(field, data)) return;
      var v = value(field);
      if (v !== undefined) data[field.name] = v;
    });
    return data;
  }

  // Show the fields of the chosen branch; hidden fields are also disabled, so they are never sent.
  function update() {
    var data = collect();
    model.fields.forEach(function (field) {
      var shown = isShown(field, data);
      var element = group(field.name);
      element.hidden = !shown;
      controls(field.name).forEach(function (control) { control.disabled = !shown; });
      if (field.categoryHints) {
        var hint = document.getElementById(field.name + "-hint");
        hint.textContent = ownValue(field.categoryHints, ownValue(data, model.discriminator)) || field.hint;
      }
    });
  }

  // ---- Character count: what is left of a length limit, never cutting the text off ------------

  function countCharacters(control) {
    var count = control.id && document.getElementById(control.id + "-count");
    if (!count) return;
    var left = Number(count.dataset.limit) - Array.from(control.value).length;
    var params = { count: String(Math.abs(left)) };
    var kind = (left >= 0 ? "remaining" : "over") + (Math.abs(left) === 1 ? "One" : "");
    count.textContent = text("characterCount." + kind, params);
    count.classList.toggle("character-count--over", left < 0);
    clearTimeout(count.pending);
    count.pending = setTimeout(function () {
      document.getElementById(control.id + "-count-status").textContent = count.textContent;
    }, 1000);
  }

  form.addEventListener("input", function (event) { countCharacters(event.target); });

  function countCharactersOf(control) {
    if (document.getElementById(control.id + "-count")) countCharacters(control);
  }

  // ---- Attachments: each file goes straight to storage through an upload slot (the widget's uploads.js)

  function uploading() {
    return model.fields.some(function (field) { return field.value === "uploads" && uploads.busy(field.name); });
  }

  model.fields.forEach(function (field) {
    if (field.value === "uploads") uploads.watch(field, model.form, field.name, errors, saveDraft);
  });

  // ---- Drafts: what is typed is kept in this browser, per form and per person --------------------
  // Never the session itself. A draft belongs to whoever this page was opened for: the contact signed in
  // then, whatever ends their session later, or nobody. A draft typed with nobody signed in waits under no
  // name, and the contact who signs in next in this browser is told it was typed before they signed in.
  // Signing out removes the contact's drafts (common.js); drafts older than DRAFT_DAYS are dropped.
  var DRAFT_DAYS = 7;
  var opened = page.session();
  var owner = opened && opened.contact ? opened.contact.email.toLowerCase() : "";

  function draftKey() {
    return page.draftKey(model.form, owner);
  }

  function readDraft(key) {
    try {
      var draft = JSON.parse(localStorage.getItem(key) || "null");
      if (draft && Date.now() - draft.savedAt <= DRAFT_DAYS * 86400000) return draft;
    } catch (e) { /* a damaged draft counts as none */ }
    localStorage.removeItem(key);
    return null;
  }

  function controlState(field) {
    if (field.value === "uploads") {
      return uploads.items(field.name).filter(function (item) { return item.dataset.id; }).map(function (item) {
        return { id: item.dataset.id, name: item.dataset.name, at: Number(item.dataset.at) };
      });
    }
    if (["choice", "boolean", "choices"].indexOf(field.value) !== -1) return checked(field);
    return controls(field.name)[0].value;
  }

  var saving = null;
  function saveDraft() {
    clearTimeout(saving);
    if (form.hidden || page.signedOut(owner)) return; // sent, not this contact's form, or signed out
    var values = {};
    var typed = false;
    model.fields.forEach(function (field) {
      values[field.name] = controlState(field);
      typed = typed || values[field.name].length > 0;
    });
    try {
      if (!typed) return localStorage.removeItem(draftKey());
      localStorage.setItem(draftKey(), JSON.stringify({ savedAt: Date.now(), key: idempotencyKey, values: values }));
    } catch (e) { /* a full or blocked storage only costs the draft */ }
  }

  function saveSoon() {
    clearTimeout(saving);
    saving = setTimeout(saveDraft, 300);
  }

  // Put a draft back into the form; attachments whose upload has expired are named and left out.
  function restoreDraft(draft) {
    var expired = [];
    model.fields.forEach(function (field) {
      var state = ownValue(draft.values, field.name);
      if (state === undefined) return;
      if (field.value === "uploads") {
        state.forEach(function (upload) {
          if (Date.now() - upload.at > field.upload.keepMs) return expired.push({ field: field.name, name: upload.name });
          var item = uploads.item(field, upload.name, saveDraft);
          item.dataset.id = upload.id;
          item.dataset.at = String(upload.at);
          item.querySelector("progress").value = 100;
        });
      } else if (Array.isArray(state)) {
        controls(field.name).forEach(function (control) { control.checked = state.indexOf(control.value) !== -1; });
      } else {
        controls(field.name)[0].value = state;
      }
    });
    if (draft.key) idempotencyKey = draft.key;
    update();
    form.querySelectorAll("textarea, input").forEach(countCharactersOf);
    if (expired.length) {
      errors.show(expired.map(function (gone) {
        return { field: gone.field, message: text("draft.uploadExpired", { name: gone.name }) };
      }));
    }
  }

  // The newest of this contact's draft and one typed while nobody was signed in, which is named as such.
  function loadDraft() {
    var key = draftKey();
    var unnamed = page.draftKey(model.form, "");
    var draft = readDraft(key);
    var notice = document.getElementById("draft-restored");
    if (key !== unnamed) {
      var waiting = readDraft(unnamed);
      if (waiting && (!draft || waiting.savedAt > draft.savedAt)) {
        draft = waiting;
        notice.textContent = text("draft.restoredUnnamed", { name: opened.contact.name || owner });
      }
      localStorage.removeItem(unnamed);
    }
    if (draft && draft.values) {
      restoreDraft(draft);
      saveDraft();
      notice.hidden = false;
    }
  }

  var sendAsNew = document.getElementById("send-as-new");
  sendAsNew.addEventListener("click", function () {
    idempotencyKey = newKey();
    sendAsNew.hidden = true;
    saveDraft();
    form.requestSubmit();
  });

  function clearForm() {
    if (!window.confirm(text("draft.confirmClear"))) return;
    localStorage.removeItem(draftKey());
    model.fields.forEach(function (field) {
      if (field.value === "uploads") uploads.items(field.name).forEach(function (item) { item.remove(); });
      controls(field.name).forEach(function (control) {
        if (control.type === "radio" || control.type === "checkbox") control.checked = false;
        else control.value = "";
      });
    });
    idempotencyKey = newKey();
    errors.clear();
    update();
    form.querySelectorAll("textarea, input").forEach(countCharactersOf);
    document.getElementById("draft-restored").hidden = true;
    statusLine.textContent = text("draft.formCleared");
  }

  // ---- Submitting ------------------------------------------------------------------------------

  function busy(on) {
    button.disabled = on;
    statusLine.textContent = on ? text("sending") : "";
  }

  function submit(event) {
    event.preventDefault();
    if (uploading()) {
      var attachments = model.fields.filter(function (f) { return f.value === "uploads"; })[0];
      errors.show([{ field: attachments.name, message: text("upload.waiting") }]);
      return;
    }
    var data = collect();
    var problems = validate(model, data, new Date());
    if (problems.length) {
      errors.show(problems);
      return;
    }
    // Typed for one contact, never sent as another's: someone else signed in since this page was opened.
    var current = page.session();
    var sameContact = current && current.contact && current.contact.email.toLowerCase() === owner;
    if (owner && !sameContact) return sessionEnded();
    errors.clear();
    busy(true);
    send(data, 0);
  }

  // The same request sent from another tab a moment ago is still being stored: ask again, as told, and get its
  // receipt (a few times, then say so).
  function send(data, waited) {
    page.api("POST", "/v1/requests", { form: model.form, data: data }, { "Idempotency-Key": idempotencyKey })
      .then(function (answer) {
        var stillStoring = answer.status === 409 && answer.body && answer.body.code === "idempotency_in_progress";
        if (stillStoring && waited < 3) {
          return setTimeout(function () { send(data, waited + 1); }, 1000 * (answer.retryAfter || 1));
        }
        busy(false);
        if (answer.status === 201 && answer.body) return showReceipt(answer.body, data);
        if (answer.status === 401) return sessionEnded();
        var problems = errors.fromAnswer(answer);
        // Sent before with other content (from another tab, say): keep the edit, offer to send it as a new one.
        var conflict = answer.body && answer.body.code === "idempotency_conflict";
        if (conflict) problems[0].message += " " + text("draft.conflict");
        sendAsNew.hidden = !conflict;
        errors.show(problems);
      })
      .catch(function () {
        busy(false);
        errors.show([{ message: text("networkError") }]);
      });
  }

  // Without a session the form can be filled in but not sent: say so above it, with the way to sign in.
  function needSignIn() {
    document.getElementById("sign-in-needed").hidden = false;
  }

  // The session ended while the person was filling in the form: keep everything, say so in the
  // error summary, and come back here after signing in (the draft and its key are kept).
  function sessionEnded() {
    saveDraft();
    page.showAccount();
    needSignIn();
    // Whoever opened the page signed out has no session that could have ended: they sign in to send.
    var message = owner ? text("draft.sessionExpired") : text("draft.signInToSend");
    errors.show([{ message: message, href: signInAddress() }]);
  }

  function signInAddress() {
    return "../sign-in/?next=" + encodeURIComponent(model.form);
  }

  // The confirmation replaces the form: the reference, where the receipt was e-mailed, what happens next.
  function showReceipt(receipt, data) {
    clearTimeout(saving);
    localStorage.removeItem(draftKey());
    idempotencyKey = newKey();
    var current = page.session();
    var mailed = current && current.contact ? text("receipt.mailed", { email: current.contact.email }) : "";
    var copies = model.fields.filter(function (f) { return f.value === "list" && ownValue(data, f.name) !== undefined; })[0];
    if (copies) mailed += " " + text("receipt.copied", { cc: data[copies.name].join(", ") });
    document.getElementById("receipt-mailed").textContent = mailed;
    document.getElementById("receipt-reference").textContent = receipt.reference;
    form.hidden = true;
    document.getElementById("form-intro").hidden = true;
    document.getElementById("draft-restored").hidden = true;
    document.getElementById("receipt").hidden = false;
    document.title = text("receipt.heading") + " – " + document.title;
    document.getElementById("announcer").textContent = text("receipt.announce", { reference: receipt.reference });
    document.getElementById("receipt-title").focus();
  }

  form.addEventListener("change", update);
  form.addEventListener("change", saveSoon);
  form.addEventListener("input", saveSoon);
  form.addEventListener("submit", submit);
  document.getElementById("clear-form").addEventListener("click", clearForm);
  // Back and Forward may show the page from the browser's cache: show the chosen service's fields again.
  window.addEventListener("pageshow", function (event) { if (event.persisted) update(); });
  window.addEventListener("pagehide", saveDraft);
  update();
  // A contact whose contact type may not send this form is told so before filling anything in.
  var current = page.session();
  var types = current && current.contact ? current.contact.contactTypes || [] : null;
  if (types && !types.some(function (t) { return model.allowedContactTypes.indexOf(t) !== -1; })) {
    var refusal = document.getElementById("not-authorized");
    refusal.textContent = model.notAuthorized;
    refusal.hidden = false;
  } else {
    form.hidden = false;
    loadDraft();
  }
  if (!page.session()) needSignIn();
})();
