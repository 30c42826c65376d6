// "My requests": the signed-in contact's requests, newest first, and one request with its history.
(function () {
  "use strict";

  var model = SDF.model;
  var texts = model.texts;
  var list = document.getElementById("request-list");
  var rows = list.querySelector("tbody");
  var more = document.getElementById("more");
  var detail = document.getElementById("request-detail");
  var notice = document.getElementById("list-status");
  var errors = SDF.errors(document.getElementById("main"));
  var cursor = null;
  var dateTime = new Intl.DateTimeFormat(model.locale, { dateStyle: "medium", timeStyle: "short" });

  function when(iso) { return dateTime.format(new Date(iso)); }

  function status(name) { return texts.statuses[name] || name; }

  function category(item) {
    var form = model.forms[item.form];
    return form ? (form.categories[item.category] || item.category || "") : item.category || "";
  }

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function addRow(item) {
    var row = document.createElement("tr");
    var first = cell(row, "");
    var link = document.createElement("a");
    link.href = "?id=" + encodeURIComponent(item.id);
    link.textContent = item.reference;
    first.appendChild(link);
    cell(row, item.title || "");
    cell(row, category(item));
    cell(row, status(item.status));
    cell(row, when(item.receivedAt));
    cell(row, when(item.updatedAt));
    rows.appendChild(row);
  }

  function failed(answer) {
    notice.textContent = "";
    if (answer && answer.status === 401) return location.assign("../sign-in/?next=my-requests");
    errors.show(answer ? errors.fromAnswer(answer) : [{ message: texts.networkError }]);
  }

  function loadPage() {
    var path = "/v1/requests?limit=20" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
    notice.textContent = texts.loading;
    SDF.api("GET", path).then(function (answer) {
      if (answer.status !== 200) return failed(answer);
      answer.body.items.forEach(addRow);
      cursor = answer.body.next;
      more.hidden = !cursor;
      list.hidden = rows.children.length === 0;
      notice.textContent = rows.children.length === 0 ? texts.empty : "";
    }, function () { failed(null); });
  }

  function showOne(id) {
    SDF.api("GET", "/v1/requests/" + encodeURIComponent(id)).then(function (answer) {
      if (answer.status === 404) {
        notice.textContent = texts.notFound;
        return;
      }
      if (answer.status !== 200) return failed(answer);
      var item = answer.body;
      var form = model.forms[item.form] || { fields: {}, order: [], title: item.form, categories: {} };
      document.getElementById("detail-title").textContent = item.reference + ": " + (item.title || "");
      var facts = document.getElementById("detail-facts");
      [[texts.service, category(item)], [texts.status, status(item.status)], [texts.received, when(item.receivedAt)]]
        .forEach(function (pair) { addFact(facts, pair[0], pair[1]); });
      var fields = document.getElementById("detail-fields");
      // The form's own order first, then anything the form no longer has.
      var names = form.order.filter(function (name) { return name in item.data; });
      Object.keys(item.data).forEach(function (name) { if (names.indexOf(name) === -1) names.push(name); });
      names.forEach(function (name) {
        var field = form.fields[name] || { label: name, options: {} };
        var value = item.data[name];
        var label = function (v) { return field.options[String(v)] || String(v); };
        var shown = Array.isArray(value) ? value.map(label).join(", ") : label(value);
        addFact(fields, field.label, shown);
      });
      var history = document.getElementById("detail-history");
      item.history.slice().reverse().forEach(function (event) {
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
    dd.textContent = description;
    list.appendChild(dt);
    list.appendChild(dd);
  }

  if (!SDF.session()) {
    location.replace("../sign-in/?next=my-requests");
    return;
  }
  more.addEventListener("click", loadPage);
  var id = new URLSearchParams(location.search).get("id");
  if (id) {
    document.getElementById("list-section").hidden = true;
    showOne(id);
  } else {
    loadPage();
  }
})();
