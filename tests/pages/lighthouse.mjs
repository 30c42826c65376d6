// Runs Lighthouse on the pages named on standard input ({"port", "urls", "formFactors"}) in the Chromium that
// listens on that port, one page at a time, keeping the browser's cookies and storage (the session the test
// put there); prints per page and form factor its four category scores and the audits that cost points.
import lighthouse from "lighthouse";
import desktop from "lighthouse/core/config/desktop-config.js";

const input = JSON.parse(await new Promise((resolve) => {
  let text = "";
  process.stdin.on("data", (chunk) => { text += chunk; });
  process.stdin.on("end", () => resolve(text));
}));
const categories = ["performance", "accessibility", "best-practices", "seo"];
const results = [];
for (const formFactor of input.formFactors) {
  for (const url of input.urls) {
    const flags = { port: input.port, output: "json", logLevel: "error", onlyCategories: categories, disableStorageReset: true };
    const runner = await lighthouse(url, flags, formFactor === "desktop" ? desktop : undefined);
    const lhr = runner.lhr;
    const lost = Object.values(lhr.audits)
      .filter((a) => a.score !== null && a.score < 1 && a.scoreDisplayMode !== "informative" && a.scoreDisplayMode !== "manual")
      .map((a) => `${a.id}: ${a.displayValue || a.score}`);
    results.push({
      url, formFactor, finalUrl: lhr.finalDisplayedUrl,
      scores: Object.fromEntries(categories.map((c) => [c, Math.round(lhr.categories[c].score * 100)])),
      lost, runtimeError: lhr.runtimeError ? lhr.runtimeError.message : null,
    });
  }
}
console.log(JSON.stringify(results));
