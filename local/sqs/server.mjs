// Started by local/sqs (Go): node server.mjs <package dir> <port> <region> <account id>
// It runs local-aws-sqs on 127.0.0.1 and prints {"port":N} on its first stdout
// line once the server listens, so a port of 0 can be used.
//
// One flaw of local-aws-sqs 2.0.2 is mended as the package is loaded: its
// ChangeMessageVisibility adds one to ApproximateReceiveCount (SQS counts only
// receives), which would send a message handed back with a backoff to its
// dead-letter queue early. The one statement that counts is patched to count
// receives only; if the package's code no longer has it, the server refuses to
// start rather than run with the flaw.
import { createRequire, Module } from "node:module";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";

const [pkgDir, port, region, accountId] = process.argv.slice(2);
const require = createRequire(join(pkgDir, "package.json"));
const main = require.resolve(pkgDir);
const flawed = "let n=Number(t.record.attributes.ApproximateReceiveCount)+1;";
const mended = "let n=Number(t.record.attributes.ApproximateReceiveCount)+(i?0:1);";
const source = readFileSync(main, "utf8");
if (!source.includes(flawed)) {
  console.error("local-aws-sqs: the receive-count statement to mend was not found; is this version 2.0.2?");
  process.exit(2);
}
const mod = new Module(main);
mod.filename = main;
mod.paths = Module._nodeModulePaths(dirname(main));
mod._compile(source.replace(flawed, mended), main);
const { createSqsServer } = mod.exports;

const server = await createSqsServer({
  port: Number(port),
  hostname: "127.0.0.1",
  region,
  accountId,
  emulateQueueCreationLifecycle: false,
});
process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");

for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    server.closeAllConnections?.();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 500).unref();
  });
}
