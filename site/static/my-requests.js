// "My requests": the signed-in contact's requests, newest first, and one request with its history.
import { api, errors as errorSummary, model, session } from "./common.js";
import { has, ownValue, text } from "./texts.js";

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
  if (field.widget === "date" && typeof value === "string") return wallClock(value, false);
  if (field.widget === "datetime" && typeof value === "string") return wallClock(value, true);
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
      var field = ownValue(form.fields, name) || { label: name, options: {}, widget: "text" };
      var value = item.data[name];
      if (field.widget === "attachments" && Array.isArray(value)) {
        var fileNames = {};
        (item.attachments || []).forEach(function (a) { fileNames[a.id] = a.name; });
        value = value.map(function (upload) { return fileNames[upload] || upload; });
        return addFact(fields, field.label, value.join("\n"));
      }
      addFact(fields, field.label, shown(field, value));
    });
    var history = document.getElementById("detail-history");
    item.history.forEach(function (event) { // oldest first, so the numbers follow the story
      var entry = document.createElement("li");
      var heading = document.createElement("strong");
      heading.textContent = status(event.status);
      entry.appendChild(heading);
      entry.appendChild(document.createTextNode(" – " + when(event.at)));
      if (event.comment) {
        var comment = document.createElement("p");
        comment.textContent = event.comment;
        entry.appendChild(comment);
      }
      history.appendChild(entry);
    });
    detail.hidden = false;
    notice.textContent = "";
    document.getElementById("detail-title").focus();
  }, function () { failed(null); });
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
