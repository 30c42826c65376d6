// Reads the official JSON Schema test cases in tests/suite/ and sorts them into the cases the form
// dialect covers and the ones it does not (with the reason), for both checkers' test runners.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../suite/draft2020-12/", import.meta.url));

function files(folder) {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(join(folder, entry.name)) : entry.name.endsWith(".json") ? [join(folder, entry.name)] : []);
}

// Groups of cases: {file, description, schema, tests, skip} where skip says why a group is left out.
export function groups(keywords) {
  const allowed = new Set([...keywords, "$schema"]);
  return files(ROOT).sort().flatMap((path) => {
    const file = path.slice(ROOT.length);
    return JSON.parse(readFileSync(path, "utf8")).map((group) => {
      const schema = group.schema;
      let skip = null;
      if (typeof schema !== "object") skip = "a boolean schema is not a field schema";
      else {
        const outside = Object.keys(schema).filter((k) => !allowed.has(k));
        if (outside.length) skip = `uses ${outside.join(", ")}, outside the dialect`;
        else if (Array.isArray(schema.type)) skip = "a list of types is outside the dialect";
        else if (schema.type !== undefined && !["string", "integer", "number", "boolean", "array"].includes(schema.type)) {
          skip = `type ${schema.type} is outside the dialect`;
        }
      }
      return { file, description: group.description, schema, tests: group.tests, skip };
    });
  });
}
