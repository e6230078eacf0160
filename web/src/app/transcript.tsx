// The transcript editor: a finished job's segments with speaker and times
// (GET /jobs/{id}/transcript). On a voiceover job a person edits a line's text
// or translation (PATCH /jobs/{id}/segments/{n}) and renders the job again
// (POST /jobs/{id}/rerender), which makes the next revision: only the edited
// lines are spoken again.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, api, type Job, must, type Script, type ScriptLine } from "../api/client";
import { clock } from "./format";
import { ErrorBox, Spinner } from "./ui";

// editable says whether the API takes edits and a re-render for the job: a
// voiceover that succeeded, or whose re-render failed.
export function editable(job: Job): boolean {
  return (
    job.recipe === "voiceover" && (job.status === "succeeded" || (job.status === "failed" && (job.revision ?? 1) > 1))
  );
}

// rendered says that this view saw the job's current revision rendered, so the
// edits already shown are in it: re-rendering waits for a new edit.
export function Transcript({
  job,
  rendered,
  onRerender,
}: {
  job: Job;
  rendered?: boolean;
  onRerender: (j: Job) => void;
}) {
  const [script, setScript] = useState<Script | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [editing, setEditing] = useState<number | null>(null);
  const [said, setSaid] = useState("");
  const [rerenderError, setRerenderError] = useState("");
  const [busy, setBusy] = useState(false);
  const [savedHere, setSavedHere] = useState(false);
  // One key per set of edits: pressing twice starts one revision.
  const key = useRef(crypto.randomUUID());
  const canEdit = editable(job);

  const load = useCallback(async () => {
    setError(null);
    try {
      setScript(must(await api.GET("/jobs/{id}/transcript", { params: { path: { id: job.id } } })));
    } catch (e) {
      setError(e as Error);
    }
  }, [job.id]);
  useEffect(() => {
    void load();
  }, [load]);

  const saved = (line: ScriptLine) => {
    setScript((s) => s && { ...s, segments: s.segments.map((l) => (l.n === line.n ? line : l)) });
    key.current = crypto.randomUUID();
    setEditing(null);
    setSavedHere(true);
    setSaid(`Line ${line.n + 1} saved. Re-render to hear it.`);
    setRerenderError("");
  };

  const rerender = async () => {
    setBusy(true);
    setRerenderError("");
    try {
      const j = must(
        await api.POST("/jobs/{id}/rerender", {
          params: { path: { id: job.id }, header: { "Idempotency-Key": key.current } },
        }),
      );
      onRerender(j);
    } catch (e) {
      setRerenderError(`The re-render was refused: ${(e as Error).message}`);
    } finally {
      setBusy(false);
    }
  };

  const heading = (
    <h3 id={`tr-${job.id}`}>Transcript{script && <span class="hint"> · revision {script.revision}</span>}</h3>
  );
  if (error) {
    return (
      <section class="transcript" aria-labelledby={`tr-${job.id}`}>
        {heading}
        <ErrorBox error={new Error(`The transcript could not be loaded: ${error.message}`)} retry={load} />
      </section>
    );
  }
  if (!script) {
    return (
      <section class="transcript" aria-labelledby={`tr-${job.id}`}>
        {heading}
        <Spinner label="Loading the transcript…" />
      </section>
    );
  }
  // Every edit on revision 1 waits for a re-render; on a later one, an edit seen
  // before may already be in it, and the API answers 409 if so.
  const pending = savedHere || (!rendered && script.segments.some((l) => l.edited));
  return (
    <section class="transcript" aria-labelledby={`tr-${job.id}`}>
      {heading}
      {script.segments.length === 0 ? (
        <p class="empty">No speech was found in this file, so there is no line to edit.</p>
      ) : (
        <>
          <p class="hint">
            {canEdit
              ? "Edit a line, save it, then re-render: only the lines you changed are spoken again."
              : job.recipe === "voiceover"
                ? "The lines can be edited once the job has succeeded."
                : "Editing and re-rendering are for voiceover jobs; this job's captions come from these lines."}
          </p>
          <ol class="lines">
            {script.segments.map((l) => (
              <Line
                key={l.n}
                jobId={job.id}
                line={l}
                script={script}
                canEdit={canEdit}
                open={editing === l.n}
                onOpen={() => {
                  setEditing(l.n);
                  setSaid("");
                }}
                onClose={() => setEditing(null)}
                onSaved={saved}
              />
            ))}
          </ol>
        </>
      )}
      <p class="sr-status" role="status">
        {said}
      </p>
      {canEdit && script.segments.length > 0 && (
        <div class="row rerender">
          <button type="button" class="primary" onClick={rerender} disabled={busy || !pending}>
            {busy ? "Starting…" : "Re-render with your edits"}
          </button>
          {!pending && (
            <span class="hint">
              {rendered
                ? `Revision ${job.revision} has your edits. Edit a line to render again.`
                : "Edit a line first."}
            </span>
          )}
        </div>
      )}
      {rerenderError && (
        <p class="error" role="alert">
          {rerenderError}
        </p>
      )}
    </section>
  );
}

function Line(props: {
  jobId: string;
  line: ScriptLine;
  script: Script;
  canEdit: boolean;
  open: boolean;
  onOpen: () => void;
  onClose: () => void;
  onSaved: (l: ScriptLine) => void;
}) {
  const { line: l, script } = props;
  const [text, setText] = useState(l.text);
  const [translation, setTranslation] = useState(l.translation ?? "");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const edit = useRef<HTMLButtonElement>(null);
  const first = useRef<HTMLTextAreaElement>(null);
  const wasOpen = useRef(false);
  const n = l.n + 1;

  useEffect(() => {
    if (props.open) {
      setText(l.text);
      setTranslation(l.translation ?? "");
      setError("");
      first.current?.focus();
    } else if (wasOpen.current) {
      edit.current?.focus();
    }
    wasOpen.current = props.open;
  }, [props.open]);

  const save = async (e: Event) => {
    e.preventDefault();
    const body: { text?: string; translation?: string } = {};
    if (text.trim() !== l.text) body.text = text.trim();
    if (l.translation !== null && translation.trim() !== l.translation) body.translation = translation.trim();
    if (body.text === "" || body.translation === "") {
      setError("A line cannot be empty.");
      return;
    }
    if (!body.text && !body.translation) {
      props.onClose();
      return;
    }
    setBusy(true);
    setError("");
    try {
      props.onSaved(
        must(
          await api.PATCH("/jobs/{id}/segments/{n}", {
            params: { path: { id: props.jobId, n: l.n } },
            body,
          }),
        ),
      );
    } catch (err) {
      setError(err instanceof ApiError ? `Not saved: ${err.message}` : `Not saved: the server could not be reached.`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <li class={`line${l.edited ? " edited" : ""}`}>
      <div class="line-head">
        <span class="time">
          {clock(l.start)} – {clock(l.end)}
        </span>
        {l.speaker && <span class="speaker">{l.speaker}</span>}
        {l.edited && <span class="badge s-edited">edited</span>}
      </div>
      {props.open ? (
        <form
          class="line-edit"
          onSubmit={save}
          onKeyDown={(e) => {
            if (e.key === "Escape") {
              e.preventDefault();
              props.onClose();
            }
          }}
          aria-label={`Edit line ${n}`}
        >
          <label>
            Text <span class="hint">what was said ({script.language})</span>
            <textarea
              ref={first}
              rows={2}
              value={text}
              onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
            />
          </label>
          {l.translation !== null && (
            <label>
              Translation <span class="hint">what is spoken ({script.target_language})</span>
              <textarea
                rows={2}
                value={translation}
                onInput={(e) => setTranslation((e.target as HTMLTextAreaElement).value)}
              />
            </label>
          )}
          <div class="row">
            <button type="submit" class="primary" disabled={busy}>
              {busy ? "Saving…" : "Save line"}
            </button>
            <button type="button" onClick={props.onClose}>
              Cancel
            </button>
          </div>
          {error && (
            <p class="error" role="alert">
              {error}
            </p>
          )}
        </form>
      ) : (
        <div class="line-body">
          <p class="said" lang={script.language || undefined}>
            {l.text}
          </p>
          {l.translation !== null && (
            <p class="spoken" lang={script.target_language || undefined}>
              {l.translation}
            </p>
          )}
          {props.canEdit && (
            <button ref={edit} type="button" onClick={props.onOpen} aria-label={`Edit line ${n}`}>
              Edit
            </button>
          )}
        </div>
      )}
    </li>
  );
}
