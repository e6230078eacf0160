import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { api, downloadURL, type Job, must, type Output } from "../api/client";
import { bytes, plainError, recipeWords, stepName, terminal } from "./format";
import { editable, Transcript } from "./transcript";
import { Badge, Bar, ErrorBox, Spinner } from "./ui";

export function JobPage({ id }: { id: string }) {
  return (
    <>
      <p>
        <a href="/app/">← Library</a>
      </p>
      <JobPanel id={id} heading />
    </>
  );
}

// JobPanel follows one job: its steps while it runs, then the player and downloads.
export function JobPanel({ id, heading }: { id: string; heading?: boolean }) {
  const [job, setJob] = useState<Job | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [cancelError, setCancelError] = useState("");
  // Bumped to watch the job again once it is running anew (a re-render).
  const [watch, setWatch] = useState(0);
  const [renderedHere, setRenderedHere] = useState(0);

  const load = useCallback(async () => {
    try {
      const j = must(await api.GET("/jobs/{id}", { params: { path: { id } } }));
      setJob(j);
      setError(null);
      return j;
    } catch (e) {
      setError(e as Error);
      return null;
    }
  }, [id]);
  useEffect(() => {
    let stop = false;
    let timer = 0;
    const tick = async () => {
      const j = await load();
      if (!stop && (!j || !terminal(j))) timer = window.setTimeout(tick, j ? 1500 : 4000);
    };
    void tick();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, [load, watch]);

  const cancel = async () => {
    setCancelError("");
    try {
      setJob(must(await api.POST("/jobs/{id}/cancel", { params: { path: { id } } })));
    } catch (e) {
      setCancelError((e as Error).message);
    }
  };

  if (error && !job) return <ErrorBox error={error} retry={load} />;
  if (!job) return <Spinner label="Loading the job…" />;
  const Title = heading ? "h1" : "h2";
  const failed = job.steps.find((s) => s.status === "failed");
  return (
    <section class="card job" aria-labelledby={`job-${job.id}`}>
      <Title id={`job-${job.id}`}>
        {recipeWords[job.recipe] ?? job.recipe} job{" "}
        <span class="job-status">
          <Badge status={job.status} />
        </span>
      </Title>
      <p class="job-facts">
        {job.revision !== undefined && <span class="revision">Revision {job.revision}</span>}
        {job.params.target_language && <span>Into {job.params.target_language}.</span>}
      </p>
      {(job.revision ?? 1) > 1 && !terminal(job) && (
        <p class="notice" role="status">
          Rendering revision {job.revision} with your edits. Revision {(job.revision ?? 2) - 1}'s files stay available
          until it is done.
        </p>
      )}
      <Bar value={job.progress} label="Job progress" />
      <ol class="steps">
        {job.steps.map((s) => (
          <li key={s.name} class={`step s-${s.status}`}>
            <span class="step-name">{stepName(s.name)}</span> <Badge status={s.status} />
            {s.status === "running" && (
              <>
                {" "}
                <Bar value={s.progress} label={`${stepName(s.name)} progress`} /> <span class="hint">{s.stage}</span>
              </>
            )}
            {/* parts is optional here: an API of the release before parts sends none during a deploy */}
            {(s.parts?.total ?? 1) > 1 && (
              <span class="hint">
                {" "}
                ({s.parts.done} of {s.parts.total} parts done)
              </span>
            )}
            {s.attempts > 1 && <span class="hint"> (attempt {s.attempts})</span>}
          </li>
        ))}
      </ol>
      {job.status === "failed" && (
        <p class="error" role="alert">
          {plainError(failed?.name, failed?.error ?? job.error ?? "")}
        </p>
      )}
      {job.status === "canceled" && <p class="notice">This job was canceled.</p>}
      {!terminal(job) && (
        <button type="button" class="danger" onClick={cancel}>
          Cancel job
        </button>
      )}
      {cancelError && (
        <p class="error" role="alert">
          {cancelError}
        </p>
      )}
      {job.status === "succeeded" && <Player key={job.revision ?? 1} job={job} />}
      {job.outputs.length > 0 && <Downloads outputs={job.outputs} />}
      {job.recipe !== "transcode" && (job.status === "succeeded" || editable(job)) && (
        <Transcript
          key={job.revision ?? 1}
          job={job}
          rendered={renderedHere === job.revision}
          onRerender={(j) => {
            setJob(j);
            setRenderedHere(j.revision ?? 0);
            setWatch((w) => w + 1);
          }}
        />
      )}
    </section>
  );
}

// Player plays the dub, or the original, with the captions from the WebVTT output.
function Player({ job }: { job: Job }) {
  const dub = job.outputs.find((o) => o.kind === "voiceover");
  const original = job.outputs.find((o) => o.kind === "video") ?? job.outputs.find((o) => o.kind === "audio");
  const lang = job.params.target_language;
  const vtt =
    (lang && job.outputs.find((o) => o.kind === `vtt.${lang}`)) || job.outputs.find((o) => o.kind.startsWith("vtt"));
  const [which, setWhich] = useState<"dub" | "original">(dub ? "dub" : "original");
  const [src, setSrc] = useState("");
  const [track, setTrack] = useState("");
  const [error, setError] = useState("");
  const video = useRef<HTMLVideoElement>(null);
  const at = useRef(0);

  const chosen = which === "dub" ? dub : original;
  useEffect(() => {
    if (!chosen) return;
    downloadURL(chosen.id)
      .then(setSrc)
      .catch((e) => setError((e as Error).message));
  }, [chosen?.id]);
  // The captions are fetched and handed to the <track> as a same-origin blob,
  // so the media itself needs no CORS mode.
  useEffect(() => {
    if (!vtt) return;
    let url = "";
    downloadURL(vtt.id)
      .then((u) => fetch(u))
      .then((r) => r.text())
      .then((t) => {
        url = URL.createObjectURL(new Blob([t], { type: "text/vtt" }));
        setTrack(url);
      })
      .catch((e) => setError(`The captions could not be loaded: ${(e as Error).message}`));
    return () => url && URL.revokeObjectURL(url);
  }, [vtt?.id]);

  if (!chosen) return null;
  const switchTo = (w: "dub" | "original") => {
    at.current = video.current?.currentTime ?? 0;
    setWhich(w);
  };
  const isAudio = chosen.content_type.startsWith("audio/");
  return (
    <div class="player">
      <h3>Player{job.revision !== undefined && <span class="hint"> · revision {job.revision}</span>}</h3>
      {dub && original && (
        <fieldset class="switch">
          <legend>Audio</legend>
          <label>
            <input type="radio" name={`aud-${job.id}`} checked={which === "dub"} onChange={() => switchTo("dub")} /> Dub
          </label>
          <label>
            <input
              type="radio"
              name={`aud-${job.id}`}
              checked={which === "original"}
              onChange={() => switchTo("original")}
            />{" "}
            Original
          </label>
        </fieldset>
      )}
      {src &&
        (isAudio ? (
          // biome-ignore lint/a11y/useMediaCaption: the captions are offered as a download beside it
          <audio controls src={src} />
        ) : (
          // biome-ignore lint/a11y/useMediaCaption: the captions track is added once its WebVTT has been fetched
          <video
            ref={video}
            controls
            preload="metadata"
            src={src}
            aria-label={which === "dub" ? "The dub" : "The original"}
            onLoadedMetadata={(e) => {
              (e.target as HTMLVideoElement).currentTime = at.current;
            }}
            onError={() => setError("The video could not be played.")}
          >
            {track && <track kind="captions" src={track} srclang={lang || "en"} label="Captions" default />}
          </video>
        ))}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

const outputWords: Record<string, string> = {
  voiceover: "Dubbed video",
  video: "Video (MP4)",
  poster: "Poster image",
  audio: "Audio (M4A)",
  speech_wav: "Speech (WAV)",
};

function outputLabel(o: Output): string {
  const [base, lang] = o.kind.split(".");
  const word =
    outputWords[base ?? ""] ??
    ({ vtt: "Captions (WebVTT)", srt: "Captions (SRT)", transcript: "Transcript (JSON)" } as Record<string, string>)[
      base ?? ""
    ] ??
    o.kind;
  return lang ? `${word}, ${lang}` : word;
}

function Downloads({ outputs }: { outputs: Output[] }) {
  const [error, setError] = useState("");
  const get = async (o: Output) => {
    try {
      location.assign(await downloadURL(o.id));
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <div class="downloads">
      <h3>Downloads</h3>
      <ul>
        {outputs.map((o) => (
          <li key={o.id}>
            <button type="button" class="link" onClick={() => get(o)}>
              {outputLabel(o)}
            </button>{" "}
            <span class="hint">
              {o.filename} · {bytes(o.size_bytes)}
            </span>
          </li>
        ))}
      </ul>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
