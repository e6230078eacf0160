import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { afterEach, describe, expect, it, vi } from "vitest";
import { JobPanel } from "./job";

const id = "7d1c3e2a-5b4f-4c3d-8e2f-1a2b3c4d5e6f";

function job(
  status: string,
  steps: {
    name: string;
    status: string;
    progress?: number;
    error?: string | null;
    parts?: { total: number; done: number };
  }[],
) {
  return {
    id,
    asset_id: "0b8f7a52-3c47-4a5b-9a9e-4c1f1d9a2b11",
    recipe: "voiceover",
    params: { target_language: "es" },
    status,
    progress: 40,
    error: null,
    created_at: "2026-12-01T10:00:00Z",
    updated_at: "2026-12-01T10:00:00Z",
    started_at: "2026-12-01T10:00:01Z",
    finished_at: null,
    steps: steps.map((s, i) => ({
      position: i + 1,
      attempts: 1,
      progress: 0,
      stage: "",
      error: null,
      started_at: null,
      finished_at: null,
      parts: { total: 1, done: s.status === "succeeded" ? 1 : 0 },
      ...s,
    })),
    outputs: [],
  };
}

function serve(routes: Record<string, () => unknown>) {
  const calls: string[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (req: Request) => {
      const key = `${req.method} ${new URL(req.url).pathname}`;
      calls.push(key);
      const body = routes[key]?.();
      return new Response(JSON.stringify(body ?? {}), {
        status: body ? 200 : 404,
        headers: { "Content-Type": "application/json" },
      });
    }),
  );
  return calls;
}

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe("JobPanel", () => {
  it("shows each step with its progress, and cancels", async () => {
    const running = job("running", [
      { name: "transcode", status: "succeeded" },
      { name: "transcribe", status: "running", progress: 55 },
      { name: "translate", status: "pending" },
    ]);
    const calls = serve({
      [`GET /jobs/${id}`]: () => running,
      [`POST /jobs/${id}/cancel`]: () => ({ ...running, status: "canceled" }),
    });
    render(<JobPanel id={id} />);
    await screen.findByText("Transcribing the speech");
    expect(screen.getByText("Preparing the video")).toBeTruthy();
    expect(screen.getByRole("progressbar", { name: "Transcribing the speech progress" }).getAttribute("value")).toBe(
      "55",
    );
    fireEvent.click(screen.getByRole("button", { name: "Cancel job" }));
    await screen.findByText("This job was canceled.");
    expect(calls).toContain(`POST /jobs/${id}/cancel`);
    expect(screen.queryByRole("button", { name: "Cancel job" })).toBeNull();
  });

  it("says in plain words which step failed and why", async () => {
    serve({
      [`GET /jobs/${id}`]: () =>
        job("failed", [
          { name: "transcode", status: "succeeded" },
          { name: "synthesize", status: "failed", error: "elevenlabs: voice not found" },
        ]),
    });
    render(<JobPanel id={id} />);
    await waitFor(() =>
      expect(screen.getByRole("alert").textContent).toBe("Making the new voice failed: Voice not found"),
    );
  });

  it("shows how many parts of a split step are done, and nothing for a step in one part", async () => {
    serve({
      [`GET /jobs/${id}`]: () =>
        job("running", [
          { name: "transcode", status: "running", progress: 50, parts: { total: 4, done: 2 } },
          { name: "transcribe", status: "pending" },
        ]),
    });
    render(<JobPanel id={id} />);
    await screen.findByText("(2 of 4 parts done)");
    expect(screen.queryAllByText(/parts done/)).toHaveLength(1);
  });
});
