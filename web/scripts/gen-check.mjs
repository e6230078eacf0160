// Fails when src/api/schema.d.ts is not what openapi-typescript makes of
// docs/openapi.yaml today, so the API contract stays one file.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = mkdtempSync(join(tmpdir(), "redub-gen-"));
try {
  const fresh = join(dir, "schema.d.ts");
  execFileSync("npx", ["--no-install", "openapi-typescript", "../docs/openapi.yaml", "-o", fresh, "--silent"], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  if (readFileSync(fresh, "utf8") !== readFileSync("src/api/schema.d.ts", "utf8")) {
    console.error(
      "web: src/api/schema.d.ts is stale: docs/openapi.yaml changed. Run `npm run gen` in web/ and commit it.",
    );
    process.exit(1);
  }
  console.log("web: src/api/schema.d.ts matches docs/openapi.yaml");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
