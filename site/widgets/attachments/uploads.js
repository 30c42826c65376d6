// Attachments: each file goes straight to storage through an upload slot, with its progress and a button
// to remove it; the form page and the reply box on My requests both use it. A field here is the page
// model's: {name, label, upload: {types, maxBytes, limitText}, messages, schema: {maxItems}}, and its markup
// is the attachments widget's macro.html (an input with the field's name as id, "<name>-list" and "<name>-status").
import { api, model } from "../../static/common.js";
import { fieldMessage, fill, text } from "../../static/texts.js";

// The field's message for `keyword`, `params` filled in.
function message(field, keyword, params) {
  return fill(fieldMessage(field, keyword, model.messages), params || {});
}

export function items(name) {
  return Array.prototype.slice.call(document.getElementById(name + "-list").children);
}

// The ids of the files that have arrived, in the order they were chosen.
export function ids(name) {
  return items(name).filter(function (item) { return item.dataset.id; }).map(function (item) {
    return item.dataset.id;
  });
}

export function busy(name) {
  return items(name).some(function (item) { return !item.dataset.id; });
}

function announce(field, words) { document.getElementById(field.name + "-status").textContent = words; }

function typeOf(field, file) {
  var types = field.upload.types;
  if (types[file.type]) return file.type;
  var extension = (file.name.match(/\.[^.]+$/) || [""])[0].toLowerCase();
  return Object.keys(types).filter(function (type) { return types[type].indexOf(extension) !== -1; })[0] || "";
}

// The same checks the handler makes when it gives out a slot, with the same messages.
function refuse(field, file, count) {
  var refusal = null;
  if (field.schema.maxItems !== undefined && count > field.schema.maxItems) {
    refusal = message(field, "maxItems");
  } else if (!typeOf(field, file)) {
    refusal = message(field, "x-upload-type", { value: file.name });
  } else if (file.size < 1) {
    refusal = message(field, "x-upload-empty", { value: file.name });
  } else if (file.size > field.upload.maxBytes) {
    refusal = message(field, "x-upload-size", { value: file.name, limit: field.upload.limitText });
  }
  return refusal && { field: field.name, message: refusal, each: true };
}

// One file in the list under the file input, with its progress and a button to remove it; `changed` is told
// when the list changes.
export function item(field, fileName, changed, onRemove) {
  var entry = document.createElement("li");
  entry.className = "uploads__item";
  entry.dataset.name = fileName;
  var name = document.createElement("span");
  name.className = "uploads__name";
  name.textContent = fileName;
  var remove = document.createElement("button");
  remove.type = "button";
  remove.className = "link-button";
  remove.textContent = text("upload.remove");
  remove.setAttribute("aria-label", text("upload.remove") + " " + fileName);
  var progress = document.createElement("progress");
  progress.max = 100;
  progress.value = 0;
  progress.setAttribute("aria-label", text("upload.uploading", { name: fileName }));
  entry.append(name, remove, progress);
  document.getElementById(field.name + "-list").appendChild(entry);
  remove.addEventListener("click", function () {
    if (onRemove) onRemove();
    entry.remove();
    changed();
    announce(field, text("upload.removed", { name: fileName }));
    document.getElementById(field.name).focus();
  });
  return entry;
}

// Send each chosen file to a slot of `slotField` of form `formId` (the schema's names: the page's own field
// may be named otherwise); `errors` is the error summary.
export function watch(field, formId, slotField, errors, changed) {
  function addFile(file) {
    var request = null;
    var entry = item(field, file.name, changed, function () { if (request) request.abort(); });
    var progress = entry.querySelector("progress");

    function fail() {
      entry.remove();
      errors.show([{ field: field.name, message: message(field, "x-upload-failed", { value: file.name }) }]);
    }
    var slot = { form: formId, field: slotField, name: file.name, type: typeOf(field, file), size: file.size };
    api("POST", "/v1/uploads", slot).then(function (answer) {
      if (!entry.isConnected) return;
      if (answer.status !== 201) {
        entry.remove();
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
        entry.dataset.id = answer.body.id;
        entry.dataset.at = String(Date.now());
        changed();
        announce(field, text("upload.uploaded", { name: file.name }));
      });
      request.addEventListener("error", fail);
      request.send(body);
    }, fail);
  }

  document.getElementById(field.name).addEventListener("change", function (event) {
    event.stopPropagation();
    var input = event.target;
    var count = items(field.name).length;
    var problems = [];
    Array.prototype.slice.call(input.files).forEach(function (file) {
      var problem = refuse(field, file, count + 1);
      if (problem) problems.push(problem);
      else {
        count += 1;
        addFile(file);
      }
    });
    input.value = "";
    if (problems.length) errors.show(problems);
    else errors.clear();
  });
}
