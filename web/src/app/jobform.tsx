// The fields of a job: recipe, target language and voice, and the speech
// options of docs/openapi.yaml's Params (the number of speakers, keyterms, a
// voice per speaker, voice cloning with its consent). The upload form and the
// asset page's "New job" form both use them; paramsOf turns them into the
// request's params, or into a sentence saying what to fix first.
import type { Params, Recipe } from "../api/client";
import { languages } from "../api/languages";

export const maxKeyterms = 100;
export const maxKeytermLength = 50;
export const maxSpeakers = 32;

export interface JobFields {
  recipe: Recipe;
  language: string;
  voice: string;
  speakers: string;
  keyterms: string;
  voices: { speaker: string; voice: string }[];
  clone: boolean;
  consent: boolean;
}

export const emptyFields = (recipe: Recipe = "voiceover"): JobFields => ({
  recipe,
  language: "",
  voice: "",
  speakers: "",
  keyterms: "",
  voices: [],
  clone: false,
  consent: false,
});

// Problem is what keeps the form from being sent: a sentence and the field to
// go to.
export interface Problem {
  message: string;
  field: "speakers" | "keyterms" | "consent";
}

// keytermsOf reads keyterms one per line or separated by commas.
export function keytermsOf(s: string): string[] {
  const seen = new Set<string>();
  for (const k of s.split(/[\n,]/)) {
    const t = k.trim();
    if (t) seen.add(t);
  }
  return [...seen];
}

// paramsOf gives the params the API expects for the fields, leaving out what
// the recipe does not take, or the first problem to fix.
export function paramsOf(f: JobFields): { params: Params } | { problem: Problem } {
  const params: Params = {};
  if (f.recipe === "transcode") return { params };
  if (f.language) params.target_language = f.language;
  if (f.speakers.trim()) {
    const n = Number(f.speakers);
    if (!Number.isInteger(n) || n < 1 || n > maxSpeakers) {
      return {
        problem: { field: "speakers", message: `The number of speakers is a whole number from 1 to ${maxSpeakers}.` },
      };
    }
    params.num_speakers = n;
  }
  const terms = keytermsOf(f.keyterms);
  if (terms.length > maxKeyterms) {
    return { problem: { field: "keyterms", message: `At most ${maxKeyterms} keyterms, not ${terms.length}.` } };
  }
  const long = terms.find((t) => t.length > maxKeytermLength);
  if (long) {
    return {
      problem: {
        field: "keyterms",
        message: `Each keyterm is at most ${maxKeytermLength} characters; “${long.slice(0, 20)}…” is longer.`,
      },
    };
  }
  if (terms.length) params.keyterms = terms;
  if (f.recipe !== "voiceover") return { params };
  if (f.voice.trim()) params.voice = f.voice.trim();
  const voices: Record<string, string> = {};
  for (const v of f.voices) if (v.voice.trim()) voices[v.speaker] = v.voice.trim();
  if (Object.keys(voices).length) params.voices = voices;
  if (f.clone) {
    if (!f.consent) {
      return {
        problem: {
          field: "consent",
          message:
            "Cloning voices needs your consent: tick “I have the right to clone every voice in this media”, or turn cloning off.",
        },
      };
    }
    params.clone_voices = true;
    params.clone_consent = true;
  }
  return { params };
}

// focusProblem moves the keyboard to the field a problem names.
export function focusProblem(form: HTMLFormElement | null, p: Problem) {
  const el = form?.querySelector<HTMLElement>(`[data-field="${p.field}"]`);
  const details = el?.closest("details");
  if (details) details.open = true;
  el?.focus();
}

const value = (e: Event) => (e.target as HTMLInputElement).value;

export function JobFieldsView({ fields: f, onChange }: { fields: JobFields; onChange: (f: JobFields) => void }) {
  const set = (patch: Partial<JobFields>) => onChange({ ...f, ...patch });
  const nextSpeaker = () => {
    const used = new Set(f.voices.map((v) => v.speaker));
    for (let i = 1; i <= maxSpeakers; i++) if (!used.has(`Speaker ${i}`)) return `Speaker ${i}`;
    return "";
  };
  const speech = f.recipe !== "transcode";
  const voiceover = f.recipe === "voiceover";
  return (
    <>
      <div class="row">
        <label>
          Recipe
          <select value={f.recipe} onChange={(e) => set({ recipe: value(e) as Recipe })}>
            <option value="voiceover">Voiceover (dub)</option>
            <option value="captions">Captions</option>
            <option value="transcode">Transcode</option>
          </select>
        </label>
        {speech && (
          <label>
            Target language
            <select value={f.language} onChange={(e) => set({ language: value(e) })}>
              <option value="">Same as spoken</option>
              {languages.map((l) => (
                <option key={l.code} value={l.code}>
                  {l.name} ({l.code})
                </option>
              ))}
            </select>
          </label>
        )}
        {voiceover && (
          <label>
            Voice
            <input value={f.voice} placeholder="default voice" onInput={(e) => set({ voice: value(e) })} />
          </label>
        )}
      </div>
      {speech && (
        <details class="more" open={f.clone || f.voices.length > 0 || undefined}>
          <summary>Speakers{voiceover ? ", voices" : ""} and keyterms</summary>
          <div class="row">
            <label>
              Number of speakers
              <input
                type="number"
                inputMode="numeric"
                min={1}
                max={maxSpeakers}
                data-field="speakers"
                value={f.speakers}
                placeholder="detect"
                onInput={(e) => set({ speakers: value(e) })}
              />
            </label>
            <label class="grow">
              Keyterms <span class="hint">names and words to keep as written; one per line or comma-separated</span>
              <textarea
                rows={2}
                data-field="keyterms"
                value={f.keyterms}
                onInput={(e) => set({ keyterms: value(e) })}
              />
            </label>
          </div>
          {voiceover && (
            <fieldset class="voices">
              <legend>Voice per speaker</legend>
              {f.voices.length === 0 && (
                <p class="hint">Each speaker gets a distinct voice unless you name one here.</p>
              )}
              {f.voices.map((v, i) => (
                <div class="row voice-row" key={v.speaker}>
                  <label>
                    {v.speaker}
                    <input
                      value={v.voice}
                      placeholder="voice id"
                      onInput={(e) =>
                        set({ voices: f.voices.map((w, j) => (j === i ? { ...w, voice: value(e) } : w)) })
                      }
                    />
                  </label>
                  <button
                    type="button"
                    class="ghost"
                    aria-label={`Remove ${v.speaker}'s voice`}
                    onClick={() => set({ voices: f.voices.filter((_, j) => j !== i) })}
                  >
                    Remove
                  </button>
                </div>
              ))}
              {f.voices.length < maxSpeakers && (
                <button
                  type="button"
                  onClick={() => set({ voices: [...f.voices, { speaker: nextSpeaker(), voice: "" }] })}
                >
                  Add a speaker's voice
                </button>
              )}
            </fieldset>
          )}
          {voiceover && (
            <fieldset class="clone">
              <legend>Voice cloning</legend>
              <label class="check">
                <input
                  type="checkbox"
                  checked={f.clone}
                  onChange={(e) => set({ clone: (e.target as HTMLInputElement).checked })}
                />
                Clone each speaker's own voice{" "}
                <span class="hint">(an ElevenLabs instant clone, deleted after the job)</span>
              </label>
              {f.clone && (
                <label class="check">
                  <input
                    type="checkbox"
                    data-field="consent"
                    checked={f.consent}
                    onChange={(e) => set({ consent: (e.target as HTMLInputElement).checked })}
                  />
                  I have the right to clone every voice in this media
                </label>
              )}
            </fieldset>
          )}
        </details>
      )}
    </>
  );
}
