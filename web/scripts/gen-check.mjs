// Fails when a generated file is not what its generator makes today:
// src/api/schema.d.ts from docs/openapi.yaml (openapi-typescript), so the API
// contract stays one file, and src/api/languages.ts from
// shared/job/language.go (go run ./scripts/languages), so the form offers the
// languages the API takes.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const generated = [
  {
    file: "src/api/schema.d.ts",
    from: "docs/openapi.yaml",
    make: (out) => ["npx", ["--no-install", "openapi-typescript", "../docs/openapi.yaml", "-o", out, "--silent"]],
  },
  {
    file: "src/api/languages.ts",
    from: "shared/job/language.go",
    make: (out) => ["go", ["run", "./scripts/languages", "-o", out]],
  },
];

const dir = mkdtempSync(join(tmpdir(), "redub-gen-"));
let stale = 0;
try {
  for (const g of generated) {
    const fresh = join(dir, g.file.replaceAll("/", "_"));
    const [cmd, args] = g.make(fresh);
    execFileSync(cmd, args, { stdio: ["ignore", "ignore", "inherit"] });
    if (readFileSync(fresh, "utf8") !== readFileSync(g.file, "utf8")) {
      console.error(`web: ${g.file} is stale: ${g.from} changed. Run \`npm run gen\` in web/ and commit it.`);
      stale++;
    } else {
      console.log(`web: ${g.file} matches ${g.from}`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (stale) process.exit(1);
