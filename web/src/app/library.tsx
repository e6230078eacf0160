import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { type Asset, api, downloadURL, type Job, must } from "../api/client";
import { bytes, date, recipeWords } from "./format";
import { emptyFields, focusProblem, type JobFields, JobFieldsView, paramsOf } from "./jobform";
import { navigate } from "./router";
import { Badge, ErrorBox, Spinner } from "./ui";
import { upload } from "./upload";

const PAGE = 12;

export function Library({ cursor }: { cursor?: string }) {
  const [page, setPage] = useState<{ items: Asset[]; next: string | null } | null>(null);
  const [jobs, setJobs] = useState<Map<string, Job>>(new Map());
  const [error, setError] = useState<Error | null>(null);
  const flash = history.state?.flash as string | undefined;

  const load = useCallback(async () => {
    setError(null);
    try {
      const [assets, recent] = await Promise.all([
        api.GET("/assets", { params: { query: { limit: String(PAGE), cursor } } }).then(must),
        api.GET("/jobs", { params: { query: { limit: "100" } } }).then(must),
      ]);
      const byAsset = new Map<string, Job>();
      for (const j of recent.items) if (!byAsset.has(j.asset_id)) byAsset.set(j.asset_id, j);
      setJobs(byAsset);
      setPage({ items: assets.items, next: assets.next_cursor });
    } catch (e) {
      setError(e as Error);
    }
  }, [cursor]);
  useEffect(() => {
    setPage(null);
    void load();
  }, [load]);

  return (
    <>
      <h1>Your library</h1>
      {flash && (
        <p class="notice" role="status">
          {flash}
        </p>
      )}
      <Uploader />
      <section aria-labelledby="assets-h">
        <h2 id="assets-h">Files</h2>
        {error && <ErrorBox error={error} retry={load} />}
        {!error && !page && <Spinner label="Loading your files…" />}
        {page && page.items.length === 0 && (
          <div class="empty">
            <p>
              {cursor
                ? "No more files."
                : "No files yet. Upload a video or an audio file above to make your first dub."}
            </p>
          </div>
        )}
        {page && page.items.length > 0 && (
          <ul class="grid">
            {page.items.map((a) => (
              <li key={a.id}>
                <a class="tile" href={`/app/assets/${a.id}`}>
                  <Poster job={jobs.get(a.id)} kind={a.kind} />
                  <span class="name">{a.filename}</span>
                  <span class="meta">
                    <Badge status={jobs.get(a.id)?.status ?? a.status} />{" "}
                    {a.recipe ? (recipeWords[a.recipe] ?? a.recipe) : "No job"}
                    <br />
                    <time dateTime={a.created_at}>{date(a.created_at)}</time> · {bytes(a.size_bytes)}
                  </span>
                </a>
              </li>
            ))}
          </ul>
        )}
        {page && (cursor || page.next) && (
          <nav class="pager" aria-label="Pages">
            {cursor && (
              <a class="button" href="/app/">
                ← Newest
              </a>
            )}
            {page.next && (
              <a class="button" href={`/app/?cursor=${encodeURIComponent(page.next)}`}>
                Older →
              </a>
            )}
          </nav>
        )}
      </section>
    </>
  );
}

// Poster shows the poster frame the transcode step made, once there is one.
const posters = new Map<string, Promise<string | null>>();

function posterOf(jobId: string): Promise<string | null> {
  let p = posters.get(jobId);
  if (!p) {
    p = api
      .GET("/jobs/{id}", { params: { path: { id: jobId } } })
      .then(must)
      .then((j) => {
        const out = j.outputs.find((o) => o.kind === "poster");
        return out ? downloadURL(out.id) : null;
      })
      .catch(() => null);
    posters.set(jobId, p);
  }
  return p;
}

function Poster({ job, kind }: { job?: Job; kind: Asset["kind"] }) {
  const [src, setSrc] = useState<string | null>(null);
  const ready = job && job.status !== "queued";
  useEffect(() => {
    if (job && ready) void posterOf(job.id).then(setSrc);
  }, [job?.id, ready]);
  if (src) return <img class="poster" src={src} alt="" loading="lazy" width={320} height={180} />;
  return (
    <span class="poster none" aria-hidden="true">
      {kind === "audio" ? "♪" : "▶"}
    </span>
  );
}

function Uploader() {
  const [file, setFile] = useState<File | null>(null);
  const [fields, setFields] = useState<JobFields>(() => emptyFields());
  const [sent, setSent] = useState<{ n: number; total: number } | null>(null);
  const [error, setError] = useState("");
  const [over, setOver] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const form = useRef<HTMLFormElement>(null);

  const pick = (f: File | undefined) => {
    if (f) {
      setFile(f);
      setError("");
    }
  };
  const start = async (e: Event) => {
    e.preventDefault();
    if (!file) {
      setError("Choose a file first.");
      return;
    }
    const p = paramsOf(fields);
    if ("problem" in p) {
      setError(p.problem.message);
      focusProblem(form.current, p.problem);
      return;
    }
    setError("");
    setSent({ n: 0, total: file.size });
    try {
      const res = await upload(file, {
        recipe: fields.recipe,
        params: p.params,
        multipart: file.size > 64 << 20,
        onProgress: (n, total) => setSent({ n, total }),
      });
      navigate(`/app/assets/${res.asset.id}`);
    } catch (err) {
      setSent(null);
      setError(`The upload was refused: ${(err as Error).message}`);
    }
  };
  const pct = sent ? (sent.total ? (100 * sent.n) / sent.total : 100) : 0;

  return (
    <form ref={form} class="card upload" onSubmit={start} aria-labelledby="upload-h" noValidate>
      <h2 id="upload-h">Upload</h2>
      <label
        class={`drop${over ? " over" : ""}`}
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={(e) => {
          e.preventDefault();
          setOver(false);
          pick(e.dataTransfer?.files[0]);
        }}
      >
        <input
          ref={input}
          type="file"
          accept="video/*,audio/*"
          onChange={(e) => pick((e.target as HTMLInputElement).files?.[0])}
        />
        <span>{file ? `${file.name} (${bytes(file.size)})` : "Drop a video or audio file here, or choose one"}</span>
      </label>
      <JobFieldsView fields={fields} onChange={setFields} />
      <button type="submit" class="primary" disabled={sent !== null}>
        {sent ? "Uploading…" : "Upload and start"}
      </button>
      {sent && (
        <p class="progress-line">
          <progress id="upload-progress" max={sent.total} value={sent.n} aria-label="Upload progress" />{" "}
          <span aria-live="polite">
            {Math.floor(pct)}% · {bytes(sent.n)} of {bytes(sent.total)}
          </span>
        </p>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
