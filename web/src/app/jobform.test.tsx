import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { afterEach, describe, expect, it, vi } from "vitest";
import { languages } from "../api/languages";
import { AssetPage } from "./asset";
import { emptyFields, keytermsOf, paramsOf } from "./jobform";

const assetId = "0b8f7a52-3c47-4a5b-9a9e-4c1f1d9a2b11";
const jobId = "7d1c3e2a-5b4f-4c3d-8e2f-1a2b3c4d5e6f";

const asset = {
  id: assetId,
  status: "ready",
  kind: "video",
  filename: "talk.mp4",
  content_type: "video/mp4",
  size_bytes: 1000,
  recipe: null,
  params: {},
  reject_reason: null,
  created_at: "2026-12-01T10:00:00Z",
  updated_at: "2026-12-01T10:00:00Z",
};

// serve answers the asset page's calls; POST /jobs gets the answer given, and
// every POST body is kept.
function serve(postJobs: { status: number; body: unknown }) {
  const posts: { url: string; body: unknown; key: string | null }[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (req: Request) => {
      const u = new URL(req.url);
      const json = (status: number, body: unknown) =>
        new Response(JSON.stringify(body), {
          status,
          headers: { "Content-Type": status >= 400 ? "application/problem+json" : "application/json" },
        });
      if (req.method === "POST") {
        posts.push({ url: u.pathname, body: await req.json(), key: req.headers.get("Idempotency-Key") });
        return json(postJobs.status, postJobs.body);
      }
      if (u.pathname === `/assets/${assetId}`) return json(200, asset);
      if (u.pathname === "/jobs") return json(200, { items: [], next_cursor: null });
      return json(404, { title: "Not found", status: 404 });
    }),
  );
  return posts;
}

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
  history.replaceState(null, "", "/app/");
});

const input = (el: HTMLElement, v: string) => fireEvent.input(el, { target: { value: v } });

describe("paramsOf", () => {
  it("sends only what the recipe takes", () => {
    const f = { ...emptyFields("captions"), language: "de", voice: "ignored", keyterms: "redub, Lambda\nredub" };
    expect(paramsOf(f)).toEqual({ params: { target_language: "de", keyterms: ["redub", "Lambda"] } });
    expect(paramsOf({ ...f, recipe: "transcode" })).toEqual({ params: {} });
  });

  it("refuses what the API would, before sending it", () => {
    const f = emptyFields();
    expect(paramsOf({ ...f, speakers: "0" })).toMatchObject({ problem: { field: "speakers" } });
    expect(paramsOf({ ...f, speakers: "2.5" })).toMatchObject({ problem: { field: "speakers" } });
    const many = Array.from({ length: 101 }, (_, i) => `term${i}`).join("\n");
    expect(paramsOf({ ...f, keyterms: many })).toMatchObject({
      problem: { message: "At most 100 keyterms, not 101." },
    });
    expect(paramsOf({ ...f, keyterms: "x".repeat(51) })).toMatchObject({ problem: { field: "keyterms" } });
    expect(paramsOf({ ...f, clone: true })).toMatchObject({ problem: { field: "consent" } });
  });

  it("reads keyterms by line and comma, without repeats", () => {
    expect(keytermsOf(" a ,b\n\n a,c ")).toEqual(["a", "b", "c"]);
  });
});

describe("the new job form", () => {
  it("offers the API's languages and sends voices per speaker, keyterms, speakers and cloning with consent", async () => {
    const posts = serve({ status: 202, body: { id: jobId } });
    render(<AssetPage id={assetId} />);
    await screen.findByRole("heading", { name: "New job" });
    const lang = screen.getByLabelText("Target language") as HTMLSelectElement;
    // Every supported language and "Same as spoken", from shared/job/language.go.
    expect(lang.options.length).toBe(languages.length + 1);
    expect([...lang.options].map((o) => o.value)).toContain("pt-BR");
    fireEvent.change(lang, { target: { value: "es" } });
    input(screen.getByLabelText("Voice"), "narrator");
    input(screen.getByLabelText("Number of speakers"), "2");
    input(screen.getByLabelText(/Keyterms/), "redub\nPgBouncer");
    fireEvent.click(screen.getByRole("button", { name: "Add a speaker's voice" }));
    fireEvent.click(screen.getByRole("button", { name: "Add a speaker's voice" }));
    input(screen.getByLabelText("Speaker 1"), "alice");
    input(screen.getByLabelText("Speaker 2"), "bob");
    fireEvent.click(screen.getByLabelText(/Clone each speaker's own voice/));
    fireEvent.click(screen.getByLabelText("I have the right to clone every voice in this media"));
    fireEvent.click(screen.getByRole("button", { name: "Start job" }));
    await waitFor(() => expect(posts).toHaveLength(1));
    expect(posts[0]?.url).toBe("/jobs");
    expect(posts[0]?.key).toBeTruthy();
    expect(posts[0]?.body).toEqual({
      asset_id: assetId,
      recipe: "voiceover",
      params: {
        target_language: "es",
        voice: "narrator",
        num_speakers: 2,
        keyterms: ["redub", "PgBouncer"],
        voices: { "Speaker 1": "alice", "Speaker 2": "bob" },
        clone_voices: true,
        clone_consent: true,
      },
    });
    await waitFor(() => expect(location.pathname).toBe(`/app/jobs/${jobId}`));
  });

  it("refuses to send a clone without consent, and says why", async () => {
    const posts = serve({ status: 202, body: { id: jobId } });
    render(<AssetPage id={assetId} />);
    await screen.findByRole("heading", { name: "New job" });
    fireEvent.click(screen.getByLabelText(/Clone each speaker's own voice/));
    fireEvent.click(screen.getByRole("button", { name: "Start job" }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("Cloning voices needs your consent");
    expect(document.activeElement).toBe(screen.getByLabelText("I have the right to clone every voice in this media"));
    expect(posts).toHaveLength(0);
  });

  it("shows the server's reason when it refuses the job", async () => {
    const posts = serve({
      status: 400,
      body: {
        type: "about:blank",
        title: "Bad request",
        status: 400,
        detail: "the voice of Speaker 1 must be 1-64 letters, digits, '-' or '_'",
      },
    });
    render(<AssetPage id={assetId} />);
    await screen.findByRole("heading", { name: "New job" });
    fireEvent.click(screen.getByRole("button", { name: "Add a speaker's voice" }));
    input(screen.getByLabelText("Speaker 1"), "not a voice!");
    fireEvent.click(screen.getByRole("button", { name: "Start job" }));
    await waitFor(() =>
      expect(screen.getByRole("alert").textContent).toBe(
        "The job was refused: the voice of Speaker 1 must be 1-64 letters, digits, '-' or '_'",
      ),
    );
    expect(posts[0]?.body).toMatchObject({ params: { voices: { "Speaker 1": "not a voice!" } } });
    expect(location.pathname).toBe("/app/");
  });

  it("asks only what a recipe takes", async () => {
    serve({ status: 202, body: { id: jobId } });
    render(<AssetPage id={assetId} />);
    await screen.findByRole("heading", { name: "New job" });
    fireEvent.change(screen.getByLabelText("Recipe"), { target: { value: "captions" } });
    expect(screen.queryByLabelText("Voice")).toBeNull();
    expect(screen.queryByText("Voice per speaker")).toBeNull();
    expect(screen.getByLabelText("Number of speakers")).toBeTruthy();
    fireEvent.change(screen.getByLabelText("Recipe"), { target: { value: "transcode" } });
    expect(screen.queryByLabelText("Target language")).toBeNull();
    expect(screen.queryByLabelText("Number of speakers")).toBeNull();
  });
});
