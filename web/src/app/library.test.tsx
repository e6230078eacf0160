import { cleanup, render, screen, waitFor } from "@testing-library/preact";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Library } from "./library";

function asset(i: number) {
  return {
    id: `0b8f7a52-3c47-4a5b-9a9e-${String(i).padStart(12, "0")}`,
    status: "ready",
    kind: "video",
    filename: `talk-${i}.mp4`,
    content_type: "video/mp4",
    size_bytes: 1000 * i,
    recipe: "voiceover",
    params: {},
    reject_reason: null,
    created_at: "2026-12-01T10:00:00Z",
    updated_at: "2026-12-01T10:00:00Z",
  };
}

// serve answers GET /assets and GET /jobs as docs/openapi.yaml says.
function serve(assets: { status: number; body: unknown }) {
  const seen: string[] = [];
  vi.stubGlobal(
    "fetch",
    vi.fn(async (req: Request) => {
      const u = new URL(req.url);
      seen.push(u.pathname + u.search);
      if (u.pathname === "/assets") {
        return new Response(JSON.stringify(assets.body), {
          status: assets.status,
          headers: { "Content-Type": assets.status >= 400 ? "application/problem+json" : "application/json" },
        });
      }
      return new Response(JSON.stringify({ items: [], next_cursor: null }), {
        headers: { "Content-Type": "application/json" },
      });
    }),
  );
  return seen;
}

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe("Library", () => {
  it("lists a page of files with status, recipe and size, and links the next page", async () => {
    const seen = serve({
      status: 200,
      body: { items: [asset(1), asset(2)], next_cursor: "abc/def" },
    });
    render(<Library cursor="xyz" />);
    await screen.findByText("talk-1.mp4");
    expect(screen.getByText("talk-2.mp4").closest("a")?.getAttribute("href")).toBe(`/app/assets/${asset(2).id}`);
    const tile = screen.getByText("talk-1.mp4").closest("a")?.textContent ?? "";
    for (const want of ["ready", "Voiceover (dub)", "1000 B", "2026"]) expect(tile).toContain(want);
    expect(screen.getByRole("link", { name: "Older →" }).getAttribute("href")).toBe("/app/?cursor=abc%2Fdef");
    expect(screen.getByRole("link", { name: "← Newest" }).getAttribute("href")).toBe("/app/");
    expect(seen).toContain("/assets?limit=12&cursor=xyz");
  });

  it("says so when there are no files yet", async () => {
    serve({ status: 200, body: { items: [], next_cursor: null } });
    render(<Library />);
    await screen.findByText(/No files yet/);
    expect(screen.queryByRole("navigation", { name: "Pages" })).toBeNull();
  });

  it("shows the server's problem and a way to try again", async () => {
    serve({
      status: 429,
      body: {
        type: "about:blank",
        title: "Too many requests",
        status: 429,
        detail: "slow down: 120 requests a minute",
      },
    });
    render(<Library />);
    await waitFor(() => expect(screen.getByRole("alert").textContent).toContain("slow down: 120 requests a minute"));
    expect(screen.getByRole("button", { name: "Try again" })).toBeTruthy();
  });
});
