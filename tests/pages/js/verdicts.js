// Reads {cases: [{model, data, now}]} as JSON on standard input and prints, for each case, the
// page checker's verdict: {field: message} for every field with a problem. Used by
// tests/test_checker.py to compare the page's verdicts with the handler's.
import { validate } from "../../../site/static/checks.js";

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const { cases } = JSON.parse(input);
  const verdicts = cases.map(({ model, data, now }) =>
    Object.fromEntries(validate(model, data, new Date(now)).map((p) => [p.field, p.message])));
  process.stdout.write(JSON.stringify(verdicts));
});
