import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/preact";
import { afterEach, describe, expect, it, vi } from "vitest";
import { JobPanel } from "./job";

const id = "7d1c3e2a-5b4f-4c3d-8e2f-1a2b3c4d5e6f";

function job(revision: number, status: string, recipe = "voiceover") {
  return {
    id,
    revision,
    asset_id: "0b8f7a52-3c47-4a5b-9a9e-4c1f1d9a2b11",
    recipe,
    params: { target_language: "es" },
    status,
    progress: status === "succeeded" ? 100 : 60,
    error: null,
    created_at: "2026-12-01T10:00:00Z",
    updated_at: "2026-12-01T10:00:00Z",
    started_at: "2026-12-01T10:00:01Z",
    finished_at: null,
    steps: [
      { name: "synthesize", status: status === "succeeded" ? "succeeded" : "running", position: 4, attempts: 1 },
      { name: "mix", status: status === "succeeded" ? "succeeded" : "pending", position: 5, attempts: 1 },
    ].map((s) => ({ progress: 0, stage: "", error: null, started_at: null, finished_at: null, ...s })),
    outputs: [
      {
        id: "11111111-2222-4333-8444-555555555555",
        step: "mix",
        kind: "voiceover",
        filename: `talk.r${revision}.mp4`,
        content_type: "video/mp4",
        size_bytes: 2048,
        created_at: "2026-12-01T10:00:00Z",
      },
    ],
  };
}

const line = (n: number, text: string, translation: string | null, edited = false) => ({
  n,
  speaker: `Speaker ${n + 1}`,
  start: n * 2.5,
  end: n * 2.5 + 2,
  text,
  translation,
  voice: `voice-${n}`,
  edited,
});

type Answer = { status: number; body: unknown };
type Routes = Record<string, (req: Request, body: unknown) => Answer>;

// serve answers the routes given as docs/openapi.yaml says and keeps every
// request that changes something.
function serve(routes: Routes) {
  const sent: { key: string; body: unknown; idempotency: string | null }[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (req: Request) => {
      const key = `${req.method} ${new URL(req.url).pathname}`;
      const body = req.method === "GET" ? undefined : await req.text().then((t) => (t ? JSON.parse(t) : undefined));
      if (req.method !== "GET") sent.push({ key, body, idempotency: req.headers.get("Idempotency-Key") });
      const a =
        routes[key]?.(req, body) ??
        (key.endsWith("/download")
          ? { status: 200, body: { url: "http://localhost:9000/bucket/x.mp4", expires_at: "2026-12-01T11:00:00Z" } }
          : { status: 404, body: { title: "Not found", status: 404, detail: `no ${key}` } });
      return new Response(JSON.stringify(a.body), {
        status: a.status,
        headers: { "Content-Type": a.status >= 400 ? "application/problem+json" : "application/json" },
      });
    }),
  );
  return sent;
}

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe("the transcript editor", () => {
  it("lists the lines with speaker and times, saves an edit, re-renders, and shows revision 2", async () => {
    let revision = 1;
    let polls = 0;
    const lines = [line(0, "Hello there.", "Hola."), line(1, "Welcome to redub.", "Bienvenido a redub.")];
    const sent = serve({
      [`GET /jobs/${id}`]: () => {
        polls++;
        // After the re-render the job is running at the first look and has succeeded at the next.
        return { status: 200, body: job(revision, revision > 1 && polls < 3 ? "running" : "succeeded") };
      },
      [`GET /jobs/${id}/transcript`]: () => ({
        status: 200,
        body: { job_id: id, revision, language: "en", target_language: "es", segments: lines },
      }),
      [`PATCH /jobs/${id}/segments/1`]: (_, body) => {
        const b = body as { translation: string };
        lines[1] = { ...line(1, "Welcome to redub.", b.translation, true) };
        return { status: 200, body: lines[1] };
      },
      [`POST /jobs/${id}/rerender`]: () => {
        revision = 2;
        polls = 1;
        return { status: 202, body: job(2, "running") };
      },
    });
    render(<JobPanel id={id} />);
    await screen.findByText("Bienvenido a redub.");
    expect(screen.getByText("Revision 1")).toBeTruthy();
    const second = screen.getByText("Welcome to redub.").closest("li") as HTMLElement;
    expect(second.textContent).toContain("Speaker 2");
    expect(second.textContent).toContain("0:02.5 – 0:04.5");
    // Nothing is edited yet: re-rendering would change nothing.
    expect((screen.getByRole("button", { name: "Re-render with your edits" }) as HTMLButtonElement).disabled).toBe(
      true,
    );

    fireEvent.click(within(second).getByRole("button", { name: "Edit line 2" }));
    const box = within(second).getByLabelText(/Translation/) as HTMLTextAreaElement;
    expect(box.value).toBe("Bienvenido a redub.");
    expect(document.activeElement).toBe(within(second).getByLabelText(/^Text/));
    fireEvent.input(box, { target: { value: "¡Bienvenidos a redub!" } });
    fireEvent.click(within(second).getByRole("button", { name: "Save line" }));
    await screen.findByText("¡Bienvenidos a redub!");
    expect(sent[0]).toMatchObject({
      key: `PATCH /jobs/${id}/segments/1`,
      body: { translation: "¡Bienvenidos a redub!" },
    });
    expect(screen.getByRole("status").textContent).toBe("Line 2 saved. Re-render to hear it.");
    expect(screen.getByText("edited")).toBeTruthy();

    fireEvent.click(screen.getByRole("button", { name: "Re-render with your edits" }));
    await screen.findByText(/Rendering revision 2 with your edits/);
    expect(sent[1]?.key).toBe(`POST /jobs/${id}/rerender`);
    expect(sent[1]?.idempotency).toBeTruthy();
    // Revision 1's outputs stay downloadable while revision 2 renders.
    expect(screen.getByRole("button", { name: "Dubbed video" })).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Re-render with your edits" })).toBeNull();

    // The panel watches again and switches the player and the transcript to revision 2.
    expect(screen.getByText("Revision 2")).toBeTruthy();
    await screen.findByRole("heading", { name: "Transcript · revision 2" }, { timeout: 4000 });
    expect(screen.queryByText(/Rendering revision 2/)).toBeNull();
    expect(screen.getByRole("heading", { name: "Player · revision 2" })).toBeTruthy();
    expect(screen.getByText("talk.r2.mp4 · 2.0 KB")).toBeTruthy();
    // Revision 2 has the edit: another re-render waits for another edit.
    await screen.findByText("Revision 2 has your edits. Edit a line to render again.");
    expect((screen.getByRole("button", { name: "Re-render with your edits" }) as HTMLButtonElement).disabled).toBe(
      true,
    );
  });

  it("cancels an edit with Escape and sends nothing", async () => {
    const sent = serve({
      [`GET /jobs/${id}`]: () => ({ status: 200, body: job(1, "succeeded") }),
      [`GET /jobs/${id}/transcript`]: () => ({
        status: 200,
        body: { job_id: id, revision: 1, language: "en", segments: [line(0, "Hello there.", null)] },
      }),
    });
    render(<JobPanel id={id} />);
    fireEvent.click(await screen.findByRole("button", { name: "Edit line 1" }));
    const text = screen.getByLabelText(/^Text/);
    expect(screen.queryByLabelText(/Translation/)).toBeNull(); // nothing is translated
    fireEvent.input(text, { target: { value: "Goodbye." } });
    fireEvent.keyDown(text, { key: "Escape" });
    expect(screen.queryByLabelText(/^Text/)).toBeNull();
    expect(screen.getByText("Hello there.")).toBeTruthy();
    await waitFor(() => expect(document.activeElement).toBe(screen.getByRole("button", { name: "Edit line 1" })));
    expect(sent).toEqual([]);
  });

  it("shows the server's reason when an edit or a re-render is refused", async () => {
    serve({
      [`GET /jobs/${id}`]: () => ({ status: 200, body: job(1, "succeeded") }),
      [`GET /jobs/${id}/transcript`]: () => ({
        status: 200,
        body: { job_id: id, revision: 1, language: "en", segments: [line(0, "Hello there.", null, true)] },
      }),
      [`PATCH /jobs/${id}/segments/0`]: () => ({
        status: 400,
        body: { title: "Bad request", status: 400, detail: "text must be 1 to 1000 characters" },
      }),
      [`POST /jobs/${id}/rerender`]: () => ({
        status: 409,
        body: { title: "Conflict", status: 409, detail: "no segment was edited since revision 1" },
      }),
    });
    render(<JobPanel id={id} />);
    fireEvent.click(await screen.findByRole("button", { name: "Edit line 1" }));
    fireEvent.input(screen.getByLabelText(/^Text/), { target: { value: "Hi." } });
    fireEvent.click(screen.getByRole("button", { name: "Save line" }));
    await waitFor(() =>
      expect(screen.getByRole("alert").textContent).toBe("Not saved: text must be 1 to 1000 characters"),
    );
    fireEvent.click(screen.getByRole("button", { name: "Cancel" }));
    fireEvent.click(screen.getByRole("button", { name: "Re-render with your edits" }));
    await waitFor(() =>
      expect(screen.getByRole("alert").textContent).toBe(
        "The re-render was refused: no segment was edited since revision 1",
      ),
    );
  });

  it("has a loading, an error and an empty state", async () => {
    let answer: Answer = { status: 500, body: { title: "Internal error", status: 500, detail: "storage is down" } };
    serve({
      [`GET /jobs/${id}`]: () => ({ status: 200, body: job(1, "succeeded") }),
      [`GET /jobs/${id}/transcript`]: () => answer,
    });
    render(<JobPanel id={id} />);
    await waitFor(() =>
      expect(screen.getByRole("alert").textContent).toContain("The transcript could not be loaded: storage is down"),
    );
    answer = { status: 200, body: { job_id: id, revision: 1, language: "en", segments: [] } };
    fireEvent.click(screen.getByRole("button", { name: "Try again" }));
    await screen.findByText("No speech was found in this file, so there is no line to edit.");
    expect(screen.queryByRole("button", { name: "Re-render with your edits" })).toBeNull();
  });

  it("shows a captions job's lines without editing", async () => {
    serve({
      [`GET /jobs/${id}`]: () => ({ status: 200, body: { ...job(1, "succeeded", "captions"), outputs: [] } }),
      [`GET /jobs/${id}/transcript`]: () => ({
        status: 200,
        body: { job_id: id, revision: 1, language: "en", segments: [line(0, "Hello there.", null)] },
      }),
    });
    render(<JobPanel id={id} />);
    await screen.findByText("Hello there.");
    expect(screen.getByText(/Editing and re-rendering are for voiceover jobs/)).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Edit line 1" })).toBeNull();
  });
});
