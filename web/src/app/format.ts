// Words and numbers as the console shows them.
import type { Job, Step } from "../api/client";

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function date(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime())
    ? iso
    : d.toLocaleString(undefined, {
        year: "numeric",
        month: "short",
        day: "numeric",
        hour: "2-digit",
        minute: "2-digit",
      });
}

const stepWords: Record<Step["name"], string> = {
  transcode: "Preparing the video",
  transcribe: "Transcribing the speech",
  translate: "Translating",
  synthesize: "Making the new voice",
  mix: "Mixing the dub",
};

export function stepName(s: Step["name"]): string {
  return stepWords[s] ?? s;
}

export const recipeWords: Record<string, string> = {
  transcode: "Transcode",
  captions: "Captions",
  voiceover: "Voiceover (dub)",
};

export function statusWord(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export const terminal = (j: Job) => j.status === "succeeded" || j.status === "failed" || j.status === "canceled";

// plainError turns a step's stored error into a sentence for a person.
export function plainError(step: string | undefined, err: string): string {
  const what = step ? `${stepName(step as Step["name"])} failed` : "The job failed";
  const reason = err.replace(/^[a-z_]+: /, "").trim();
  return reason ? `${what}: ${reason.charAt(0).toUpperCase()}${reason.slice(1)}` : `${what}.`;
}

// clock is a time in the media as m:ss.s.
export function clock(seconds: number): string {
  const tenths = Math.round(seconds * 10);
  const m = Math.floor(tenths / 600);
  const s = (tenths % 600) / 10;
  return `${m}:${s < 10 ? "0" : ""}${s.toFixed(1)}`;
}
