// Started by local/sqs (Go): node server.mjs <package dir> <port> <region> <account id>
// It runs local-aws-sqs on 127.0.0.1 and prints {"port":N} on its first stdout
// line once the server listens, so a port of 0 can be used.
import { createRequire } from "node:module";
import { join } from "node:path";

const [pkgDir, port, region, accountId] = process.argv.slice(2);
const require = createRequire(join(pkgDir, "package.json"));
const { createSqsServer } = require(pkgDir);

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
