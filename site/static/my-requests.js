// "My requests": the signed-in contact's requests, newest first, and one request with its conversation.
import { api, draftKey, errors as errorSummary, model, session } from "./common.js";
import { fill, has, ownValue, text } from "./texts.js";
import * as uploads from "../widgets/attachments/uploads.js";

var list = document.getElementById("request-list");
var rows = list.querySelector("tbody");
var more = document.getElementById("more");
var detail = document.getElementById("request-detail");
var notice = document.getElementById("list-status");
var errors = errorSummary(document.getElementById("main"));
var cursor = null;
// Dates as the page's language writes them (nb-NO: "28. nov. 2026, 14:05"; en-GB: "28 Nov 2026, 14:05").
var dateTime = new Intl.DateTimeFormat(model.locale, { dateStyle: "medium", timeStyle: "short" });
var shortDateTime = new Intl.DateTimeFormat(model.locale, { dateStyle: "short", timeStyle: "short" });
var longDate = new Intl.DateTimeFormat(model.locale, { dateStyle: "long" });
var longDateTime = new Intl.DateTimeFormat(model.locale, { dateStyle: "long", timeStyle: "short" });
var numbers = new Intl.NumberFormat(model.locale, { maximumFractionDigits: 20 });

function when(iso) { return dateTime.format(new Date(iso)); }

// A wall-clock date or date-time from a form ("2026-03-15", "2026-03-15T18:00") as the language writes it.
function wallClock(value, withTime) {
  var p = value.split(/[-T:]/).map(Number);
  var at = new Date(p[0], p[1] - 1, p[2], p[3] || 0, p[4] || 0);
  return isNaN(at) ? value : (withTime ? longDateTime : longDate).format(at);
}

// A submitted value as a person reads it: choices by label, dates and numbers in the page's language.
function shown(field, value) {
  if (Array.isArray(value)) return value.map(function (v) { return shown(field, v); }).join(", ");
  if (Object.prototype.hasOwnProperty.call(field.options, String(value))) return field.options[String(value)];
  if (typeof value === "number") return numbers.format(value);
  if ((field.moment === "date" || field.moment === "datetime") && typeof value === "string") {
    return wallClock(value, field.moment === "datetime");
  }
  return String(value);
}

function status(name) { return has("statuses." + name) ? text("statuses." + name) : name; }

// A status as a tag: coloured by status, named in words.
function tag(name) {
  var element = document.createElement("strong");
  element.className = "tag tag--" + name;
  element.textContent = status(name);
  return element;
}

function category(item) {
  var form = model.forms[item.form];
  return form ? (ownValue(form.categories, item.category) || item.category || "") : item.category || "";
}

// A cell names its column too, for the narrow layout where each request is a card.
function cell(row, column, label, content) {
  var td = document.createElement("td");
  td.dataset.label = label;
  td.className = "table__cell--" + column;
  if (typeof content === "string") td.textContent = content;
  else td.appendChild(content);
  row.appendChild(td);
  return td;
}

function addRow(item) {
  var row = document.createElement("tr");
  var link = document.createElement("a");
  link.href = "?id=" + encodeURIComponent(item.id);
  link.className = "reference";
  link.textContent = item.reference;
  cell(row, "reference", text("myRequests.reference"), link);
  cell(row, "subject", text("myRequests.subject"), item.title || "");
  cell(row, "status", text("myRequests.status"), tag(item.status));
  cell(row, "service", text("myRequests.service"), category(item));
  cell(row, "received", text("myRequests.received"), shortDateTime.format(new Date(item.receivedAt)));
  rows.appendChild(row);
}

function failed(answer) {
  notice.textContent = "";
  if (answer && answer.status === 401) return location.assign("../sign-in/?next=my-requests");
  errors.show(answer ? errors.fromAnswer(answer) : [{ message: text("networkError") }]);
}

function loadPage() {
  var path = "/v1/requests?limit=20" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
  notice.textContent = text("myRequests.loading");
  api("GET", path).then(function (answer) {
    if (answer.status !== 200) return failed(answer);
    answer.body.items.forEach(addRow);
    cursor = answer.body.next;
    more.hidden = !cursor;
    list.hidden = rows.children.length === 0;
    notice.textContent = rows.children.length === 0 ? text("myRequests.empty") : "";
  }, function () { failed(null); });
}

function showOne(id) {
  api("GET", "/v1/requests/" + encodeURIComponent(id)).then(function (answer) {
    if (answer.status === 404) {
      document.getElementById("not-found").hidden = false;
      document.getElementById("not-found-title").focus();
      return;
    }
    if (answer.status !== 200) return failed(answer);
    var item = answer.body;
    var form = model.forms[item.form] || { fields: {}, order: [], title: item.form, categories: {} };
    document.getElementById("detail-title").textContent = item.reference + ": " + (item.title || "");
    var facts = document.getElementById("detail-facts");
    [
      [text("myRequests.service"), category(item)],
      [text("myRequests.status"), tag(item.status)],
      [text("myRequests.received"), when(item.receivedAt)],
      [text("myRequests.updated"), when(item.updatedAt)]
    ]
      .forEach(function (pair) { addFact(facts, pair[0], pair[1]); });
    var fields = document.getElementById("detail-fields");
    // The form's own order first, then anything the form no longer has.
    var names = form.order.filter(function (name) { return ownValue(item.data, name) !== undefined; });
    Object.keys(item.data).forEach(function (name) { if (names.indexOf(name) === -1) names.push(name); });
    names.forEach(function (name) {
      var field = ownValue(form.fields, name) || { label: name, options: {} };
      var value = item.data[name];
      if (field.value === "uploads" && Array.isArray(value)) {
        var fileNames = {};
        (item.attachments || []).forEach(function (a) { fileNames[a.id] = a.name; });
        value = value.map(function (upload) { return fileNames[upload] || upload; });
        return addFact(fields, field.label, value.join("\n"));
      }
      addFact(fields, field.label, shown(field, value));
    });
    var thread = document.getElementById("detail-thread");
    item.thread.forEach(function (entry) { thread.appendChild(threadEntry(entry)); }); // oldest first
    conversation(item);
    detail.hidden = false;
    notice.textContent = "";
    document.getElementById("detail-title").focus();
  }, function () { failed(null); });
}

// One entry of the conversation: a message (who wrote it, when, its text with its line breaks) or a status change.
function threadEntry(entry) {
  var li = document.createElement("li");
  var heading = document.createElement("p");
  heading.className = "thread__heading";
  var who = document.createElement("strong");
  if (entry.kind === "message") {
    var mine = entry.author === "requester";
    li.className = "thread__message thread__message--" + (mine ? "mine" : "desk");
    who.textContent = fill(text("conversation.wrote"), { name: mine ? text("conversation.you") : entry.name });
  } else {
    li.className = "thread__status";
    who.textContent = fill(text("conversation.statusChanged"), { status: status(entry.status) });
  }
  heading.appendChild(who);
  heading.appendChild(document.createTextNode(" – " + when(entry.at)));
  li.appendChild(heading);
  var body = entry.kind === "message" ? entry.body : entry.comment;
  if (body) {
    var p = document.createElement("p");
    p.className = "thread__body";
    p.textContent = body; // plain text: shown as written, line breaks kept by the stylesheet, never as HTML
    li.appendChild(p);
  }
  if (entry.kind === "message" && entry.attachments.length) {
    var list = document.createElement("ul");
    list.className = "thread__files";
    entry.attachments.forEach(function (file) {
      var name = document.createElement("li");
      name.textContent = file.name;
      list.appendChild(name);
    });
    li.appendChild(list);
  }
  return li;
}

function newKey() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
}

// The reply box: kept as a draft of this contact's (with its idempotency key) until it is sent; a closed
// request says how to go on instead.
function conversation(item) {
  var form = document.getElementById("reply-form");
  if (model.conversation.closed.indexOf(item.status) !== -1 && !model.conversation.reopenAs) {
    var closed = document.getElementById("reply-closed");
    closed.textContent = fill(text("conversation.closed"), { reference: item.reference }) + " ";
    var fresh = document.createElement("a");
    fresh.href = "../" + encodeURIComponent(item.form) + "/";
    fresh.textContent = text("myRequests.newRequest");
    closed.appendChild(fresh);
    closed.hidden = false;
    return;
  }
  var box = document.getElementById("body");
  var sent = document.getElementById("reply-status");
  var button = document.getElementById("reply-send");
  // The request's form's attachments field, as the form checks it; its files go through its upload slots.
  var files = ownValue(model.files, item.form);
  var key = draftKey("reply-" + item.id, session().contact.email);
  var draft = JSON.parse(localStorage.getItem(key) || "null");
  if (!draft || Date.now() - draft.savedAt > 7 * 86400000) draft = { key: newKey(), body: "", files: [] }; // as the form's

  function attached() { return files ? uploads.ids(files.name) : []; }

  function save() {
    var kept = files ? uploads.items(files.name).filter(function (entry) { return entry.dataset.id; })
      .map(function (entry) { return { id: entry.dataset.id, name: entry.dataset.name, at: Number(entry.dataset.at) }; }) : [];
    if (!box.value && !kept.length) return localStorage.removeItem(key);
    localStorage.setItem(key, JSON.stringify({ key: draft.key, body: box.value, files: kept, savedAt: Date.now() }));
  }

  box.value = draft.body;
  box.addEventListener("input", save);
  if (files) {
    document.querySelector('[data-field="' + files.name + '"]').hidden = false;
    uploads.watch(files, item.form, files.slotField, errors, save);
    (draft.files || []).forEach(function (kept) { // files whose upload has expired are left out
      if (Date.now() - kept.at > files.upload.keepMs) return;
      var entry = uploads.item(files, kept.name, save);
      entry.dataset.id = kept.id;
      entry.dataset.at = String(kept.at);
      entry.querySelector("progress").value = 100;
    });
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (files && uploads.busy(files.name)) return errors.show([{ field: files.name, message: text("upload.waiting") }]);
    if (!box.value.trim() && !attached().length) {
      return errors.show([{ field: "body", message: text("conversation.required") }]);
    }
    errors.clear();
    button.disabled = true;
    sent.textContent = text("sending");
    var path = "/v1/requests/" + encodeURIComponent(item.id) + "/messages";
    api("POST", path, { body: box.value, attachments: attached() }, { "Idempotency-Key": draft.key })
      .then(function (answer) {
        button.disabled = false;
        sent.textContent = "";
        if (answer.status !== 201) {
          // The API names the body's member "attachments"; on this page the field is the form's own.
          return errors.show(errors.fromAnswer(answer).map(function (problem) {
            return problem.field === "attachments" && files ? { field: files.name, message: problem.message, each: true }
              : problem;
          }));
        }
        localStorage.removeItem(key);
        draft = { key: newKey(), body: "", files: [] };
        box.value = "";
        if (files) uploads.items(files.name).forEach(function (entry) { entry.remove(); });
        var thread = document.getElementById("detail-thread");
        var now = answer.body.request.status;
        if (now !== item.status) { // the answer moved the request on, as schema/site.json says
          thread.appendChild(threadEntry({ kind: "status", status: now, at: answer.body.message.at }));
          var shownTag = document.querySelector("#detail-facts .tag");
          shownTag.replaceWith(tag(now));
          item.status = now;
        }
        thread.appendChild(threadEntry(answer.body.message));
        sent.textContent = text("conversation.sent");
      }, function () {
        button.disabled = false;
        sent.textContent = "";
        errors.show([{ message: text("networkError") }]);
      });
  });
  form.hidden = false;
}

function addFact(list, term, description) {
  var dt = document.createElement("dt");
  dt.textContent = term;
  var dd = document.createElement("dd");
  if (typeof description === "string") dd.textContent = description;
  else dd.appendChild(description);
  list.appendChild(dt);
  list.appendChild(dd);
}

var id = new URLSearchParams(location.search).get("id");
if (!session()) {
  location.replace("../sign-in/?next=my-requests");
} else if (id) {
  document.getElementById("list-section").hidden = true;
  showOne(id);
} else {
  more.addEventListener("click", loadPage);
  loadPage();
}
