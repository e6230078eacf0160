// The API client: types and paths come from docs/openapi.yaml through the
// generated schema.d.ts (npm run gen), so the console cannot drift from it.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

export type Asset = components["schemas"]["Asset"];
export type Job = components["schemas"]["Job"];
export type Step = components["schemas"]["Step"];
export type Output = components["schemas"]["Output"];
export type User = components["schemas"]["User"];
export type Problem = components["schemas"]["Problem"];
export type Recipe = components["schemas"]["Recipe"];
export type UploadResponse = components["schemas"]["UploadResponse"];
export type Params = components["schemas"]["Params"];
export type Script = components["schemas"]["Script"];
export type ScriptLine = components["schemas"]["ScriptLine"];

// The app and the API share one origin (CloudFront in AWS, the gateway
// locally), so the session cookie goes along and the Origin check passes.
export const api = createClient<paths>({
  baseUrl: "",
  credentials: "same-origin",
  // Looked up per call, so tests can stand in for the network.
  fetch: (req: Request) => globalThis.fetch(req),
});

// ApiError carries the server's problem+json, whose detail is written for people.
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem?: Partial<Problem>,
  ) {
    super(problem?.detail || problem?.title || `the server answered ${status}`);
  }
}

// must returns the data of an openapi-fetch answer or throws its problem.
export function must<T>(r: { data?: T; error?: unknown; response: Response }): T {
  if (r.error !== undefined || r.data === undefined) {
    if (r.response.ok && r.data === undefined && r.error === undefined) return undefined as T;
    throw new ApiError(r.response.status, (r.error ?? undefined) as Partial<Problem> | undefined);
  }
  return r.data;
}

// problemOf reads a problem+json (or any error body) from a raw answer.
export function problemOf(status: number, body: string): ApiError {
  try {
    return new ApiError(status, JSON.parse(body) as Partial<Problem>);
  } catch {
    return new ApiError(status, body ? { detail: body.slice(0, 300) } : undefined);
  }
}

// downloadURL presigns a GET for an asset or a job output (5 minutes).
export async function downloadURL(id: string): Promise<string> {
  return must(await api.GET("/assets/{id}/download", { params: { path: { id } } })).url;
}
