// "No more e-mails": someone copied on a request stops the copies, with the signed link from one of them.
import { api, errors } from "./common.js";
import { fill, text } from "./texts.js";

var form = document.getElementById("stop-form");
var summary = errors(document.getElementById("main"));
var done = document.getElementById("stop-done");
var query = new URLSearchParams(location.search);
var request = query.get("r") || "";
var address = query.get("a") || "";
var signature = query.get("s") || "";

function finished(reference) {
  form.hidden = true;
  done.textContent = fill(text("stopEmails.done"), { reference: reference, address: address });
  done.hidden = false;
}

if (!request || !address || !signature) {
  summary.show([{ message: text("stopEmails.invalid") }]);
} else {
  document.getElementById("stop-question").textContent = fill(text("stopEmails.question"), { address: address });
  form.hidden = false;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var button = form.querySelector("button");
    button.disabled = true;
    form.querySelector(".status").textContent = text("sending");
    var body = { address: address, signature: signature };
    api("POST", "/v1/requests/" + encodeURIComponent(request) + "/stop-emails", body).then(function (answer) {
      button.disabled = false;
      form.querySelector(".status").textContent = "";
      if (answer.status === 200 && answer.body) return finished(answer.body.reference);
      form.hidden = answer.status === 404;
      summary.show(answer.status === 404 ? [{ message: text("stopEmails.invalid") }] : summary.fromAnswer(answer));
    }, function () {
      button.disabled = false;
      form.querySelector(".status").textContent = "";
      summary.show([{ message: text("networkError") }]);
    });
  });
}
