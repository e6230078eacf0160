// npm audit of the production dependencies: fails on a high or critical
// advisory. When the advisory service cannot be reached (a registry mirror
// that answers GET only, no network), it says SKIPPED and why, like
// `make vuln` does for the Go database, rather than passing in silence.
import { spawnSync } from "node:child_process";

const r = spawnSync("npm", ["audit", "--omit=dev", "--json"], { encoding: "utf8" });
let report;
try {
  report = JSON.parse(r.stdout);
} catch {
  console.error(`web audit: npm audit printed no report:\n${r.stdout}${r.stderr}`);
  process.exit(1);
}
if (report.statusCode || report.error) {
  const why = report.message || report.error?.summary || JSON.stringify(report.error);
  console.log(`web audit: SKIPPED: the npm advisory service cannot be reached from here (${why})`);
  process.exit(0);
}
const v = report.metadata?.vulnerabilities ?? {};
const bad = (v.high ?? 0) + (v.critical ?? 0);
console.log(
  `web audit: ${report.metadata?.dependencies?.prod ?? "?"} production dependencies; advisories: ${JSON.stringify(v)}`,
);
if (bad > 0) {
  for (const [name, info] of Object.entries(report.vulnerabilities ?? {})) console.log(`  ${name}: ${info.severity}`);
  process.exit(1);
}
