import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import { guessType, type PutFn, s3Reason, upload } from "./upload";

// The API answers as docs/openapi.yaml says; storage is the put function.
function stubAPI(routes: Record<string, (body: unknown) => [number, unknown]>) {
  const calls: { path: string; body: unknown }[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (req: Request) => {
      const path = new URL(req.url).pathname;
      const body = req.method === "POST" ? await req.json() : undefined;
      calls.push({ path, body });
      const route = Object.entries(routes).find(([p]) => new RegExp(`^${p}$`).test(path));
      if (!route) return new Response("{}", { status: 404 });
      const [status, out] = route[1](body);
      return new Response(JSON.stringify(out), {
        status,
        headers: { "Content-Type": status >= 400 ? "application/problem+json" : "application/json" },
      });
    }),
  );
  return calls;
}

const asset = { id: "0b8f7a52-3c47-4a5b-9a9e-4c1f1d9a2b11", status: "pending", filename: "talk.mp4" };

afterEach(() => vi.unstubAllGlobals());

describe("upload", () => {
  it("sends a small file in one PUT and reports bytes sent", async () => {
    stubAPI({
      "/uploads": () => [
        201,
        {
          asset,
          upload: { method: "PUT", multipart: false, url: "http://s3/put", headers: { "Content-Type": "video/mp4" } },
        },
      ],
    });
    const seen: number[] = [];
    const put: PutFn = async (url, headers, body, onSent) => {
      expect(url).toBe("http://s3/put");
      expect(headers["Content-Type"]).toBe("video/mp4");
      onSent(body.size / 2);
      onSent(body.size);
      return { etag: '"x"' };
    };
    const file = new File([new Uint8Array(1000)], "talk.mp4", { type: "video/mp4" });
    const res = await upload(file, { put, onProgress: (n) => seen.push(n) });
    expect(res.asset.id).toBe(asset.id);
    expect(seen).toEqual([500, 1000]);
  });

  it("sends parts in parallel, retries a failed part and completes with every ETag", async () => {
    const size = 10;
    const parts = [1, 2, 3, 4].map((n) => ({
      part_number: n,
      size_bytes: n < 4 ? 3 : 1,
      url: `http://s3/part/${n}`,
      headers: {},
    }));
    const calls = stubAPI({
      "/uploads": () => [201, { asset, upload: { method: "PUT", multipart: true, part_size: 3, parts } }],
      "/uploads/[^/]+/complete": () => [200, asset],
    });
    let inFlight = 0;
    let most = 0;
    const tries: Record<string, number> = {};
    const put: PutFn = async (url, _h, body, onSent) => {
      tries[url] = (tries[url] ?? 0) + 1;
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      if (url.endsWith("/2") && tries[url] === 1) throw new ApiError(0, { detail: "network error" });
      onSent(body.size);
      return { etag: `"e${url.slice(-1)}"` };
    };
    let last = 0;
    const file = new File([new Uint8Array(size)], "big.mp4", { type: "video/mp4" });
    await upload(file, { put, retries: 2, onProgress: (n) => (last = n) });
    expect(most).toBeGreaterThan(1);
    expect(tries["http://s3/part/2"]).toBe(2);
    expect(last).toBe(size);
    const done = calls.find((c) => c.path.endsWith("/complete"));
    expect(done?.body).toEqual({
      parts: [1, 2, 3, 4].map((n) => ({ part_number: n, etag: `"e${n}"` })),
    });
  });

  it("gives the server's problem detail when the file is refused", async () => {
    stubAPI({
      "/uploads": () => [
        413,
        { type: "about:blank", title: "Too large", status: 413, detail: "the file is 3 GB; the limit is 2 GB" },
      ],
    });
    const file = new File([new Uint8Array(10)], "huge.mp4", { type: "video/mp4" });
    await expect(upload(file, { put: vi.fn() })).rejects.toThrow("the file is 3 GB; the limit is 2 GB");
  });
});

describe("helpers", () => {
  it("reads S3's error message", () => {
    expect(s3Reason("<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>")).toBe(
      "Request has expired",
    );
  });
  it("guesses a media type from the name", () => {
    expect(guessType("a.MOV")).toBe("video/quicktime");
    expect(guessType("notes.txt")).toBe("application/octet-stream");
  });
});
