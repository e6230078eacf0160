// Checks the built pages against their budgets: the gzipped JavaScript each
// page loads (its module script and the chunks it preloads, as written in the
// built HTML) and, for the record, its CSS and HTML. Prints the figures
// docs/benchmarks.md quotes; exits 1 over a budget.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const dist = "dist";
const budgets = { "index.html": 30, "app/index.html": 150 }; // kB (1000 bytes) of gzipped JavaScript
const gz = (path) => gzipSync(readFileSync(join(dist, path)), { level: 9 }).length;
const kb = (n) => (n / 1000).toFixed(1);

let failed = false;
for (const [page, budget] of Object.entries(budgets)) {
  const html = readFileSync(join(dist, page), "utf8");
  const refs = (re) => [...html.matchAll(re)].map((m) => m[1].replace(/^\//, ""));
  const js = [
    ...refs(/<script[^>]+src="([^"]+)"/g),
    ...refs(/<link[^>]+rel="modulepreload"[^>]+href="([^"]+)"/g),
  ].reduce((n, f) => n + gz(f), 0);
  const css = refs(/<link[^>]+rel="stylesheet"[^>]+href="([^"]+)"/g).reduce((n, f) => n + gz(f), 0);
  const ok = js <= budget * 1000;
  failed ||= !ok;
  console.log(
    `${ok ? "ok  " : "OVER"} /${page.replace("index.html", "")}: JavaScript ${kb(js)} kB gz (budget ${budget} kB), CSS ${kb(css)} kB gz, HTML ${kb(gz(page))} kB gz`,
  );
}
if (failed) process.exit(1);
