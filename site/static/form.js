// The form page's behaviour, driven by the model build.py embeds from the schema:
// show the fields of the chosen branch, check the fields with the schema's own constraints and
// messages, show an error summary, and submit the request as JSON.
(function () {
  "use strict";

  var model = SDF.model;
  var form = document.getElementById("request-form");
  var errors = SDF.errors(form);
  var statusLine = form.querySelector(".status");
  var button = form.querySelector("button[type=submit]");
  var emailPattern = new RegExp(model.emailPattern);
  var fieldsByName = {};
  model.fields.forEach(function (field) { fieldsByName[field.name] = field; });
  // One key per filled-in form: a retry after a lost answer returns the first receipt.
  var idempotencyKey = newKey();

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return String(Date.now()) + "-" + Math.random().toString(36).slice(2);
  }

  function group(name) { return errors.group(name); }

  function controls(name) { return group(name).querySelectorAll("input, select, textarea"); }

  // ---- Reading values as the schema expects them -------------------------------------------

  function rawValue(field) {
    var elements = controls(field.name);
    if (field.widget === "radios") {
      for (var i = 0; i < elements.length; i++) if (elements[i].checked) return elements[i].value;
      return "";
    }
    return elements[0].value.trim();
  }

  function value(field) {
    if (field.widget === "attachments") {
      var ids = uploadIds(field.name);
      return ids.length ? ids : undefined;
    }
    var raw = rawValue(field);
    if (field.widget === "email-list") {
      var list = raw.split(/[\s,;]+/).filter(function (part) { return part !== ""; });
      return list.length ? list : undefined;
    }
    return raw === "" ? undefined : raw;
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

  // ---- Which fields belong to the form as it is filled in ------------------------------------

  function holds(path, data) {
    return path.every(function (condition) { return data[condition[0]] === condition[1]; });
  }

  function isShown(field, data) {
    return field.shownWhen.some(function (path) { return holds(path, data); });
  }

  function isRequired(field, data) {
    return field.requiredWhen.some(function (path) { return holds(path, data); });
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
        hint.textContent = field.categoryHints[data[model.discriminator]] || field.hint;
      }
    });
  }

  // ---- Checking, with the schema's constraints and the schema's messages ---------------------

  function fill(template, field, limit, found) {
    var params = { label: field.label, limit: limit === undefined ? "" : String(limit), value: found || "" };
    return template.replace(/\{(label|limit|value)\}/g, function (_, name) { return params[name]; });
  }

  function length(text) { return Array.from(text).length; }

  // The first keyword of `schema` that `v` fails, in the schema's order (as the server reports it).
  function failure(schema, v) {
    var keys = Object.keys(schema);
    for (var i = 0; i < keys.length; i++) {
      var keyword = keys[i], limit = schema[keyword];
      var failed =
        (keyword === "minLength" && length(v) < limit) ||
        (keyword === "maxLength" && length(v) > limit) ||
        (keyword === "pattern" && !new RegExp(limit, "u").test(v)) ||
        (keyword === "format" && limit === "email" && !emailPattern.test(v)) ||
        (keyword === "format" && limit === "date" && !isDate(v)) ||
        (keyword === "enum" && limit.indexOf(v) === -1) ||
        (keyword === "const" && v !== limit) ||
        (keyword === "minItems" && v.length < limit) ||
        (keyword === "maxItems" && v.length > limit) ||
        (keyword === "uniqueItems" && limit && new Set(v).size !== v.length);
      if (failed) return { keyword: keyword, limit: typeof limit === "number" ? limit : undefined };
    }
    return null;
  }

  function isDate(v) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(v)) return false;
    var d = new Date(v + "T00:00:00Z");
    return !isNaN(d) && d.toISOString().slice(0, 10) === v;
  }

  function check(field, v) {
    var found = failure(field.schema, v);
    if (!found && Array.isArray(v)) {
      for (var i = 0; i < v.length && !found; i++) {
        found = failure(field.items, v[i]);
        if (found) found.value = v[i];
      }
    }
    return found;
  }

  function nowIn(timeZone) {
    var parts = {};
    new Intl.DateTimeFormat("en-CA", {
      timeZone: timeZone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23"
    }).formatToParts(new Date()).forEach(function (p) { parts[p.type] = p.value; });
    return parts.year + "-" + parts.month + "-" + parts.day + "T" + parts.hour + ":" + parts.minute;
  }

  // The schema's x-rules, as handler/rules.py implements them.
  function ruleHolds(rule, data) {
    var v = data[rule.field];
    if (rule.rule === "after") return v > data[rule.other];
    if (rule.rule === "not-before") return v >= data[rule.other];
    if (rule.rule === "not-past") return data[rule.date] + "T" + v >= nowIn(rule.timeZone || "UTC");
    return true;
  }

  function validate(data) {
    var problems = [];
    var failed = {};
    model.fields.forEach(function (field) {
      if (!isShown(field, data)) return;
      var v = data[field.name];
      var found = v === undefined ? (isRequired(field, data) ? { keyword: "required" } : null) : check(field, v);
      if (found) {
        failed[field.name] = true;
        problems.push({ field: field.name, message: fill(field.messages[found.keyword], field, found.limit, found.value) });
      }
    });
    model.rules.forEach(function (rule) {
      var involved = [rule.field, rule.other, rule.date].filter(Boolean);
      var ready = involved.every(function (name) { return !failed[name] && data[name] !== undefined; });
      if (ready && !ruleHolds(rule, data)) {
        var field = fieldsByName[rule.field];
        problems.push({ field: rule.field, message: fill(field.messages["x-" + rule.rule], field) });
      }
    });
    var order = model.fields.map(function (f) { return f.name; });
    return problems.sort(function (a, b) { return order.indexOf(a.field) - order.indexOf(b.field); });
  }

  // ---- Attachments: each file goes straight to storage through an upload slot -----------------

  function uploadItems(name) {
    return Array.prototype.slice.call(document.getElementById(name + "-list").children);
  }

  function uploadIds(name) {
    return uploadItems(name).filter(function (item) { return item.dataset.id; }).map(function (item) {
      return item.dataset.id;
    });
  }

  function uploading() {
    return model.fields.some(function (field) {
      return field.widget === "attachments" && uploadItems(field.name).some(function (item) { return !item.dataset.id; });
    });
  }

  function announce(field, text) { document.getElementById(field.name + "-status").textContent = text; }

  function typeOf(field, file) {
    var types = field.upload.types;
    if (types[file.type]) return file.type;
    var extension = (file.name.match(/\.[^.]+$/) || [""])[0].toLowerCase();
    return Object.keys(types).filter(function (type) { return types[type].indexOf(extension) !== -1; })[0] || "";
  }

  // The same checks the handler makes when it gives out a slot, with the same messages.
  function refuse(field, file, count) {
    var message = null;
    if (field.schema.maxItems !== undefined && count > field.schema.maxItems) {
      message = fill(field.messages.maxItems, field, field.schema.maxItems);
    } else if (!typeOf(field, file)) {
      message = fill(field.messages["x-upload-type"], field, undefined, file.name);
    } else if (file.size < 1 || file.size > field.upload.maxBytes) {
      message = fill(field.messages["x-upload-size"], field, field.upload.limitText, file.name);
    }
    return message && { field: field.name, message: message };
  }

  function addFile(field, file) {
    var item = document.createElement("li");
    item.className = "uploads__item";
    var name = document.createElement("span");
    name.className = "uploads__name";
    name.textContent = file.name;
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "link-button";
    remove.textContent = model.texts.upload.remove;
    remove.setAttribute("aria-label", model.texts.upload.remove + " " + file.name);
    var progress = document.createElement("progress");
    progress.max = 100;
    progress.value = 0;
    progress.setAttribute("aria-label", SDF.fill(model.texts.upload.uploading, { name: file.name }));
    item.append(name, remove, progress);
    document.getElementById(field.name + "-list").appendChild(item);
    var request = null;

    function fail() {
      item.remove();
      errors.show([{ field: field.name, message: fill(field.messages["x-upload-failed"], field, undefined, file.name) }]);
    }

    remove.addEventListener("click", function () {
      if (request) request.abort();
      item.remove();
      announce(field, SDF.fill(model.texts.upload.removed, { name: file.name }));
      document.getElementById(field.name).focus();
    });
    var slot = { form: model.form, field: field.name, name: file.name, type: typeOf(field, file), size: file.size };
    SDF.api("POST", "/v1/uploads", slot).then(function (answer) {
      if (!item.isConnected) return;
      if (answer.status !== 201) {
        item.remove();
        return errors.show(errors.fromAnswer(answer));
      }
      var body = new FormData();
      Object.keys(answer.body.fields).forEach(function (key) { body.append(key, answer.body.fields[key]); });
      body.append("file", file);
      request = new XMLHttpRequest();
      request.open("POST", answer.body.url);
      request.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) progress.value = Math.round((event.loaded / event.total) * 100);
      });
      request.addEventListener("load", function () {
        if (request.status < 200 || request.status >= 300) return fail();
        progress.value = 100;
        item.dataset.id = answer.body.id;
        announce(field, SDF.fill(model.texts.upload.uploaded, { name: file.name }));
      });
      request.addEventListener("error", fail);
      request.send(body);
    }, fail);
  }

  function chooseFiles(field, input) {
    var files = Array.prototype.slice.call(input.files);
    var count = uploadItems(field.name).length;
    var problems = [];
    files.forEach(function (file) {
      var problem = refuse(field, file, count + 1);
      if (problem) problems.push(problem);
      else {
        count += 1;
        addFile(field, file);
      }
    });
    input.value = "";
    if (problems.length) errors.show(problems);
    else errors.clear();
  }

  model.fields.forEach(function (field) {
    if (field.widget !== "attachments") return;
    document.getElementById(field.name).addEventListener("change", function (event) {
      event.stopPropagation();
      chooseFiles(field, event.target);
    });
  });

  // ---- Submitting ------------------------------------------------------------------------------

  function busy(on) {
    button.disabled = on;
    statusLine.textContent = on ? model.texts.sending : "";
  }

  function submit(event) {
    event.preventDefault();
    if (uploading()) {
      var attachments = model.fields.filter(function (f) { return f.widget === "attachments"; })[0];
      errors.show([{ field: attachments.name, message: model.texts.upload.waiting }]);
      return;
    }
    var data = collect();
    var problems = validate(data);
    if (problems.length) {
      errors.show(problems);
      return;
    }
    errors.clear();
    busy(true);
    SDF.api("POST", "/v1/requests", { form: model.form, data: data }, { "Idempotency-Key": idempotencyKey })
      .then(function (answer) {
        busy(false);
        if (answer.status === 201 && answer.body) return showReceipt(answer.body);
        if (answer.status === 401) return needSignIn();
        errors.show(errors.fromAnswer(answer));
      })
      .catch(function () {
        busy(false);
        errors.show([{ message: model.texts.networkError }]);
      });
  }

  // Without a session the form cannot be sent: say so and link to the sign-in page.
  function needSignIn() {
    errors.clear();
    document.getElementById("sign-in-needed").hidden = false;
    form.hidden = true;
  }

  function showReceipt(receipt) {
    document.getElementById("receipt-reference").textContent = receipt.reference;
    form.hidden = true;
    document.getElementById("receipt").hidden = false;
    document.getElementById("receipt-title").focus();
  }

  form.addEventListener("change", update);
  form.addEventListener("submit", submit);
  update();
  if (!SDF.session()) needSignIn();
})();
