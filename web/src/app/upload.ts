// Uploads a file straight to S3 with the presigned URLs from POST /uploads:
// one PUT, or a multipart upload whose parts go in parallel, each retried
// when it fails, then POST /uploads/{id}/complete. Progress is bytes sent,
// from XMLHttpRequest's upload events (fetch has none).
import { ApiError, api, must, type Params, problemOf, type Recipe, type UploadResponse } from "../api/client";

export type Progress = (sent: number, total: number) => void;

export interface UploadOptions {
  recipe?: Recipe;
  params?: Params;
  multipart?: boolean;
  concurrency?: number;
  retries?: number;
  onProgress?: Progress;
  // put is the transport, replaceable in tests.
  put?: PutFn;
}

export type PutFn = (
  url: string,
  headers: Record<string, string>,
  body: Blob,
  onSent: (n: number) => void,
) => Promise<{ etag: string }>;

// Browsers set Content-Length themselves and refuse to let scripts set it.
const forbidden = new Set(["content-length", "host"]);

export const xhrPut: PutFn = (url, headers, body, onSent) =>
  new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open("PUT", url);
    for (const [k, v] of Object.entries(headers)) if (!forbidden.has(k.toLowerCase())) x.setRequestHeader(k, v);
    x.upload.onprogress = (e) => onSent(e.loaded);
    x.onload = () => {
      if (x.status >= 200 && x.status < 300) {
        onSent(body.size);
        resolve({ etag: x.getResponseHeader("ETag") ?? "" });
      } else reject(new ApiError(x.status, { detail: s3Reason(x.responseText) || `storage answered ${x.status}` }));
    };
    x.onerror = () => reject(new ApiError(0, { detail: "the upload was interrupted (network error)" }));
    x.send(body);
  });

// s3Reason pulls <Message> out of an S3 XML error.
export function s3Reason(xml: string): string {
  return /<Message>([^<]*)<\/Message>/.exec(xml)?.[1] ?? "";
}

export async function upload(file: File, o: UploadOptions = {}): Promise<UploadResponse> {
  const put = o.put ?? xhrPut;
  const res = await api.POST("/uploads", {
    body: {
      filename: file.name,
      content_type: file.type || guessType(file.name),
      size_bytes: file.size,
      recipe: o.recipe,
      params: o.params,
      multipart: o.multipart || undefined,
    },
  });
  if (!res.response.ok) throw new ApiError(res.response.status, res.error as never);
  const answer = must(res);
  const up = answer.upload;
  const total = file.size;
  const report = o.onProgress ?? (() => {});
  if (!up.multipart) {
    await put(up.url ?? "", up.headers ?? {}, file, (n) => report(n, total));
    return answer;
  }
  const parts = up.parts ?? [];
  const sent = new Array<number>(parts.length).fill(0);
  const etags = new Array<string>(parts.length);
  const partSize = up.part_size ?? Math.ceil(total / parts.length);
  let next = 0;
  const worker = async () => {
    while (next < parts.length) {
      const i = next++;
      const p = parts[i];
      if (!p) continue;
      const start = (p.part_number - 1) * partSize;
      const blob = file.slice(start, start + p.size_bytes);
      for (let attempt = 0; ; attempt++) {
        try {
          const { etag } = await put(p.url, p.headers, blob, (n) => {
            sent[i] = n;
            report(
              sent.reduce((a, b) => a + b, 0),
              total,
            );
          });
          etags[i] = etag;
          break;
        } catch (err) {
          sent[i] = 0;
          if (attempt >= (o.retries ?? 3)) throw err;
          await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.concurrency ?? 4, parts.length) }, worker));
  const done = await api.POST("/uploads/{id}/complete", {
    params: { path: { id: answer.asset.id } },
    body: { parts: parts.map((p, i) => ({ part_number: p.part_number, etag: etags[i] ?? "" })) },
  });
  if (!done.response.ok) throw new ApiError(done.response.status, done.error as never);
  return { ...answer, asset: must(done) };
}

const types: Record<string, string> = {
  mp4: "video/mp4",
  mov: "video/quicktime",
  webm: "video/webm",
  mkv: "video/x-matroska",
  mp3: "audio/mpeg",
  wav: "audio/wav",
  m4a: "audio/mp4",
  ogg: "audio/ogg",
};

export function guessType(name: string): string {
  return types[name.split(".").pop()?.toLowerCase() ?? ""] ?? "application/octet-stream";
}

export { problemOf };
