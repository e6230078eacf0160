import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { type Asset, api, downloadURL, type Job, must } from "../api/client";
import { bytes, date, recipeWords } from "./format";
import { JobPanel } from "./job";
import { emptyFields, focusProblem, type JobFields, JobFieldsView, paramsOf } from "./jobform";
import { navigate } from "./router";
import { Badge, ErrorBox, Spinner } from "./ui";

export function AssetPage({ id }: { id: string }) {
  const [asset, setAsset] = useState<Asset | null>(null);
  const [jobs, setJobs] = useState<Job[]>([]);
  const [error, setError] = useState<Error | null>(null);

  const load = useCallback(async () => {
    try {
      const [a, js] = await Promise.all([
        api.GET("/assets/{id}", { params: { path: { id } } }).then(must),
        api.GET("/jobs", { params: { query: { limit: "100" } } }).then(must),
      ]);
      setAsset(a);
      setJobs(js.items.filter((j) => j.asset_id === id));
      setError(null);
      return a;
    } catch (e) {
      setError(e as Error);
      return null;
    }
  }, [id]);

  // While the upload is being checked (and its job not yet made), look again.
  useEffect(() => {
    let stop = false;
    let timer = 0;
    const tick = async () => {
      const a = await load();
      if (!stop && a && a.status === "pending") timer = window.setTimeout(tick, 1500);
    };
    void tick();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, [load]);
  // A job appears once the upload is verified; look for it a few more times.
  useEffect(() => {
    if (asset?.status === "ready" && asset.recipe && jobs.length === 0) {
      const t = setTimeout(load, 1500);
      return () => clearTimeout(t);
    }
  }, [asset, jobs, load]);

  if (error) return <ErrorBox error={error} retry={load} />;
  if (!asset) return <Spinner label="Loading the file…" />;
  const latest = jobs[0];
  return (
    <>
      <p>
        <a href="/app/">← Library</a>
      </p>
      <h1>{asset.filename}</h1>
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          <Badge status={asset.status} />
        </dd>
        <dt>Size</dt>
        <dd>{bytes(asset.size_bytes)}</dd>
        <dt>Uploaded</dt>
        <dd>{date(asset.created_at)}</dd>
        <dt>Recipe</dt>
        <dd>{asset.recipe ? (recipeWords[asset.recipe] ?? asset.recipe) : "none"}</dd>
      </dl>
      {asset.status === "pending" && <Spinner label="Checking the upload…" />}
      {asset.status === "rejected" && (
        <p class="error" role="alert">
          This file was refused: {asset.reject_reason ?? "it is not a video or audio file we can read"}.
        </p>
      )}
      {latest && <JobPanel key={latest.id} id={latest.id} />}
      {asset.status === "ready" && asset.recipe && !latest && <Spinner label="Starting the job…" />}
      {jobs.length > 1 && (
        <section aria-labelledby="jobs-h">
          <h2 id="jobs-h">Earlier jobs</h2>
          <ul>
            {jobs.slice(1).map((j) => (
              <li key={j.id}>
                <a href={`/app/jobs/${j.id}`}>
                  {recipeWords[j.recipe]} · {j.status} · {date(j.created_at)}
                </a>
              </li>
            ))}
          </ul>
        </section>
      )}
      {asset.status === "ready" && <NewJob asset={asset} onStarted={load} />}
      <Actions asset={asset} />
    </>
  );
}

function NewJob({ asset, onStarted }: { asset: Asset; onStarted: () => void }) {
  const [fields, setFields] = useState<JobFields>(() => emptyFields());
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const form = useRef<HTMLFormElement>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError("");
    const p = paramsOf(fields);
    if ("problem" in p) {
      setError(p.problem.message);
      focusProblem(form.current, p.problem);
      return;
    }
    setBusy(true);
    try {
      const job = must(
        await api.POST("/jobs", {
          params: { header: { "Idempotency-Key": crypto.randomUUID() } },
          body: { asset_id: asset.id, recipe: fields.recipe, params: p.params },
        }),
      );
      onStarted();
      navigate(`/app/jobs/${job.id}`);
    } catch (err) {
      setError(`The job was refused: ${(err as Error).message}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form ref={form} class="card newjob" onSubmit={submit} aria-labelledby="newjob-h" noValidate>
      <h2 id="newjob-h">New job</h2>
      <JobFieldsView fields={fields} onChange={setFields} />
      <button type="submit" class="primary" disabled={busy}>
        {busy ? "Starting…" : "Start job"}
      </button>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

function Actions({ asset }: { asset: Asset }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const original = async () => {
    try {
      location.assign(await downloadURL(asset.id));
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const remove = async () => {
    setBusy(true);
    try {
      const r = await api.DELETE("/assets/{id}", { params: { path: { id: asset.id } } });
      if (!r.response.ok) must(r);
      dialog.current?.close();
      history.pushState({ flash: `Deleted ${asset.filename}.` }, "", "/app/");
      dispatchEvent(new PopStateEvent("popstate"));
    } catch (e) {
      setError((e as Error).message);
      dialog.current?.close();
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="actions" aria-label="File actions">
      {asset.status === "ready" && (
        <button type="button" onClick={original}>
          Download the original
        </button>
      )}
      <button type="button" class="danger" onClick={() => dialog.current?.showModal()}>
        Delete…
      </button>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <dialog ref={dialog} aria-labelledby="del-h">
        <h2 id="del-h">Delete {asset.filename}?</h2>
        <p>The file, its jobs and every output are removed for good.</p>
        <form method="dialog" class="row">
          <button type="submit">Keep it</button>
          <button type="button" class="danger" onClick={remove} disabled={busy}>
            {busy ? "Deleting…" : "Delete for good"}
          </button>
        </form>
      </dialog>
    </section>
  );
}
