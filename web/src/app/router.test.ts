import { describe, expect, it } from "vitest";
import { plainError } from "./format";
import { parse } from "./router";

describe("parse", () => {
  it("knows the console's pages", () => {
    expect(parse("/app/")).toEqual({ page: "library" });
    expect(parse("/app", "?cursor=abc")).toEqual({ page: "library", cursor: "abc" });
    expect(parse("/app/assets/0b8f7a52-3c47-4a5b-9a9e-4c1f1d9a2b11")).toEqual({
      page: "asset",
      id: "0b8f7a52-3c47-4a5b-9a9e-4c1f1d9a2b11",
    });
    expect(parse("/app/jobs/0b8f7a52-3c47-4a5b-9a9e-4c1f1d9a2b11").page).toBe("job");
    expect(parse("/app/nope").page).toBe("missing");
  });
});

describe("plainError", () => {
  it("names the step in words", () => {
    expect(plainError("transcribe", "openai: quota exceeded")).toBe("Transcribing the speech failed: Quota exceeded");
    expect(plainError(undefined, "")).toBe("The job failed.");
  });
});
