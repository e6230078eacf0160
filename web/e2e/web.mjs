// The browser test of the web app, run by ./e2e/web_test.go against a local
// stack it started: Debian's Chromium through playwright-core (no browser
// download). It signs in, uploads the sample while watching the progress bar,
// follows the job to succeeded, plays the dub with its captions, edits a line of
// the transcript and re-renders it to revision 2, is refused a voice clone
// without consent and shows the API's reason for a bad voice id, downloads an
// output, deletes the asset, runs axe-core on every page and screenshots each.
// It prints one JSON line of results on stdout; everything else goes to stderr.
//
// env: APP_URL (http://localhost:PORT), SAMPLE (a video file), SHOTS (a folder),
// CHROMIUM (default /usr/bin/chromium), JOB_TIMEOUT_MS (default 240000).

import { randomBytes } from "node:crypto";
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const app = process.env.APP_URL.replace(/\/$/, "");
const sample = process.env.SAMPLE;
const shots = process.env.SHOTS;
const jobTimeout = Number(process.env.JOB_TIMEOUT_MS || 240000);
const editedLine = "This line was edited in the browser.";
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const log = (...a) => console.error("web.mjs:", ...a);
const results = { pages: {}, screenshots: [], progress: [], problems: [] };

// launch() gives Chromium a new empty --user-data-dir of its own and removes it on close.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
  ],
});

// axe runs through the DevTools protocol (page.evaluate), which the page's
// Content-Security-Policy does not stop; the app's own scripts stay under it.
async function audit(page, name) {
  await page.evaluate(axeSource);
  const r = await page.evaluate(async () => {
    const out = await window.axe.run(document, { resultTypes: ["violations"] });
    return out.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
  });
  const bad = r.filter((v) => v.impact === "serious" || v.impact === "critical");
  results.pages[name] = { violations: r.length, serious_or_critical: bad };
  if (bad.length) results.problems.push(`axe on ${name}: ${JSON.stringify(bad)}`);
  log(`axe ${name}: ${r.length} violations, ${bad.length} serious or critical`);
}

async function shot(page, name) {
  const path = join(shots, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  results.screenshots.push(path);
}

try {
  // The landing page, with scripts off: still readable.
  const noJS = await browser.newContext({ javaScriptEnabled: false });
  const plain = await noJS.newPage();
  await plain.goto(`${app}/`);
  results.landing_without_js = {
    h1: await plain.locator("h1").textContent(),
    sign_in_href: await plain.getByRole("link", { name: "Sign in", exact: true }).getAttribute("href"),
  };
  await noJS.close();

  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await ctx.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") {
      log("console error:", m.text());
      if (/Content.Security.Policy|Refused to/i.test(m.text())) results.problems.push(`CSP: ${m.text()}`);
    }
  });
  page.on("pageerror", (e) => results.problems.push(`page error: ${e.message}`));

  // Landing: its largest contentful paint, from the browser's own timeline.
  await page.goto(`${app}/`, { waitUntil: "load" });
  results.lcp_ms = await page.evaluate(
    () =>
      new Promise((resolve) => {
        new PerformanceObserver((list) => {
          const all = list.getEntries();
          resolve(Math.round(all[all.length - 1].startTime));
        }).observe({ type: "largest-contentful-paint", buffered: true });
      }),
  );
  const nav = await page.evaluate(() => performance.getEntriesByType("navigation")[0].toJSON());
  results.landing_load_ms = Math.round(nav.loadEventEnd);
  log(`landing LCP ${results.lcp_ms} ms, load ${results.landing_load_ms} ms`);
  await audit(page, "landing");
  await shot(page, "landing");

  // Sign-in, with the development email login (the stage says development).
  await page.getByRole("link", { name: "Sign in", exact: true }).click();
  await page.getByRole("heading", { name: "Sign in to redub" }).waitFor();
  results.google_href = await page.getByRole("link", { name: "Continue with Google" }).getAttribute("href");
  await audit(page, "sign-in");
  await shot(page, "sign-in");
  await page.getByLabel("Email").fill("browser@example.com");
  await page.keyboard.press("Enter"); // the keyboard alone submits the form
  await page.getByRole("heading", { name: "Your library" }).waitFor();
  await page.getByText("No files yet").waitFor();
  await audit(page, "library-empty");
  await shot(page, "library-empty");

  // A file the API refuses shows the server's own reason (its problem+json detail).
  const notes = join(tmpdir(), `redub-notes-${process.pid}.txt`);
  writeFileSync(notes, "not a video\n");
  await page.locator('input[type="file"]').setInputFiles(notes);
  await page.getByRole("button", { name: "Upload and start" }).click();
  results.refused = await page.locator(".upload [role=alert]").textContent();
  rmSync(notes);
  log(`refused: ${results.refused}`);

  // Upload, slowed down so the progress bar has something to show.
  const cdp = await ctx.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: Math.max(64 * 1024, Math.floor(statSync(sample).size / 3)), // about 3 s
  });
  await page.evaluate(() => {
    window.__progress = [];
    const look = () => {
      const p = document.getElementById("upload-progress");
      if (p) {
        const v = Number(p.value);
        if (window.__progress.at(-1) !== v) window.__progress.push(v);
      }
      if (!location.pathname.startsWith("/app/assets/")) requestAnimationFrame(look);
    };
    requestAnimationFrame(look);
  });
  await page.locator('input[type="file"]').setInputFiles(sample);
  await page.getByRole("button", { name: "Upload and start" }).click();
  await page.waitForURL(/\/app\/assets\/[0-9a-f-]{36}$/, { timeout: 60000 });
  results.progress = await page.evaluate(() => window.__progress);
  results.sample_bytes = statSync(sample).size;
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: -1,
  });
  results.asset_id = page.url().split("/").pop();
  log(`uploaded asset ${results.asset_id}; progress seen: ${results.progress.join(", ")}`);

  // The job, step by step, to succeeded.
  await page.locator(".job").waitFor({ timeout: 60000 });
  await shot(page, "job-running");
  await audit(page, "job-running");
  const started = Date.now();
  await page.locator(".job-status .badge", { hasText: /succeeded|failed|canceled/ }).waitFor({ timeout: jobTimeout });
  results.job_status = await page.locator(".job-status .badge").textContent();
  results.job_seconds = Math.round((Date.now() - started) / 100) / 10;
  log(`job ${results.job_status} after ${results.job_seconds}s of watching`);
  if (results.job_status !== "succeeded") throw new Error(`the job ended ${results.job_status}`);

  // The player: the dub plays and the captions track loads.
  const video = page.locator(".player video");
  await video.waitFor();
  await page.waitForFunction(() => {
    const t = document.querySelector(".player video track");
    return t && t.readyState === 2 && t.track.cues && t.track.cues.length > 0;
  });
  results.player = await video.evaluate(async (v) => {
    v.muted = true;
    await v.play();
    const t0 = v.currentTime;
    await new Promise((r) => setTimeout(r, 1500));
    const track = v.querySelector("track");
    return {
      from: t0,
      to: v.currentTime,
      error: v.error ? v.error.code : null,
      cues: track.track.cues.length,
      first_cue: track.track.cues[0].text,
      label: v.getAttribute("aria-label"),
    };
  });
  log(`player: ${JSON.stringify(results.player)}`);
  await video.evaluate((v) => v.pause());
  await audit(page, "job-done");
  await shot(page, "job-done");

  // The transcript editor, from the keyboard: edit the first line, save it, re-render, and the page
  // follows the job to revision 2, whose player and captions say the new line.
  const firstLine = page.locator(".transcript .line").first();
  await firstLine.waitFor();
  results.transcript = {
    lines: await page.locator(".transcript .line").count(),
    first_before: (await firstLine.locator(".said").textContent()).trim(),
    heading: (await page.locator(".transcript h3").textContent()).trim(),
  };
  await audit(page, "transcript");
  const srcBefore = await video.getAttribute("src");
  await firstLine.getByRole("button", { name: "Edit line 1" }).focus();
  await page.keyboard.press("Enter");
  const text = firstLine.getByRole("textbox", { name: /^Text/ });
  await text.waitFor();
  results.transcript.focused_text_box = await text.evaluate((el) => el === document.activeElement);
  await text.fill(editedLine);
  await audit(page, "transcript-editing");
  await shot(page, "transcript-editing");
  await page.keyboard.press("Tab");
  if (await firstLine.getByRole("textbox", { name: /^Translation/ }).count()) await page.keyboard.press("Tab");
  await page.keyboard.press("Enter"); // "Save line"
  await firstLine.locator(".badge", { hasText: "edited" }).waitFor();
  results.transcript.saved = (await page.locator(".transcript [role=status]").textContent()).trim();
  await page.getByRole("button", { name: "Re-render with your edits" }).click();
  await page.getByText(/Rendering revision 2 with your edits/).waitFor();
  results.transcript.rendering_downloads = await page.getByRole("button", { name: "Dubbed video" }).count();
  await shot(page, "rerender-running");
  await page.getByRole("heading", { name: "Transcript · revision 2" }).waitFor({ timeout: jobTimeout });
  results.rerender = {
    status: await page.locator(".job-status .badge").textContent(),
    revision: (await page.locator(".job .revision").textContent()).trim(),
    player: (await page.locator(".player h3").textContent()).trim(),
    first_line: (await page.locator(".transcript .line .said").first().textContent()).trim(),
  };
  await video.waitFor();
  await page.waitForFunction(() => {
    const t = document.querySelector(".player video track");
    return t && t.readyState === 2 && t.track.cues && t.track.cues.length > 0;
  });
  Object.assign(
    results.rerender,
    await video.evaluate(async (v) => {
      v.muted = true;
      await v.play();
      const t0 = v.currentTime;
      await new Promise((r) => setTimeout(r, 1000));
      const cues = [...v.querySelector("track").track.cues].map((c) => c.text);
      v.pause();
      return { from: t0, to: v.currentTime, error: v.error ? v.error.code : null, cues };
    }),
  );
  results.rerender.src_changed = (await video.getAttribute("src")) !== srcBefore;
  results.rerender.again_disabled = await page.getByRole("button", { name: "Re-render with your edits" }).isDisabled();
  log(`re-render: ${JSON.stringify(results.rerender)}`);
  await audit(page, "job-revision-2");
  await shot(page, "job-revision-2");

  // The new job form: cloning without consent is refused before anything is sent; a voice id the API
  // refuses shows the server's own reason.
  const newJob = page.locator("form.newjob");
  await newJob.locator("summary").click();
  await newJob.getByLabel(/Clone each speaker's own voice/).check();
  let jobPosts = 0;
  const countPosts = (r) => {
    if (r.method() === "POST" && new URL(r.url()).pathname === "/jobs") jobPosts++;
  };
  page.on("request", countPosts);
  await newJob.getByRole("button", { name: "Start job" }).click();
  const refusal = newJob.locator("[role=alert]");
  await refusal.waitFor();
  results.clone = {
    refused: await refusal.textContent(),
    focused_consent: await newJob
      .getByLabel("I have the right to clone every voice in this media")
      .evaluate((el) => el === document.activeElement),
    posts_without_consent: jobPosts,
  };
  await audit(page, "new-job-consent");
  await shot(page, "new-job-consent");
  await newJob.getByLabel("I have the right to clone every voice in this media").check();
  await newJob.getByRole("button", { name: "Add a speaker's voice" }).click();
  await newJob.getByLabel("Speaker 1", { exact: true }).fill("not a voice!");
  await newJob.getByRole("button", { name: "Start job" }).click();
  await refusal.filter({ hasText: "The job was refused: " }).waitFor();
  results.clone.server = await refusal.textContent();
  results.clone.posts = jobPosts;
  page.off("request", countPosts);
  log(`new job: ${JSON.stringify(results.clone)}`);
  await newJob.getByRole("button", { name: "Remove Speaker 1's voice" }).click();
  await newJob.getByLabel(/Clone each speaker's own voice/).uncheck();

  // Switch the audio to the original.
  await page.getByRole("radio", { name: "Original" }).check();
  await page.waitForFunction(
    () => document.querySelector(".player video")?.getAttribute("aria-label") === "The original",
  );
  results.switched_to = await video.getAttribute("aria-label");

  // Download the dubbed video, from the keyboard.
  const dubbed = page.getByRole("button", { name: "Dubbed video" });
  await dubbed.scrollIntoViewIfNeeded();
  await dubbed.focus();
  const [download] = await Promise.all([
    page.waitForEvent("download", { timeout: 60000 }),
    page.keyboard.press("Enter"),
  ]);
  const saved = await download.path();
  results.download = { name: download.suggestedFilename(), bytes: statSync(saved).size };
  log(`downloaded ${results.download.name} (${results.download.bytes} bytes)`);

  // The library: the file with its poster, status, recipe and date; its tile leads back.
  await page.getByRole("link", { name: "← Library" }).click();
  await page.waitForFunction(() => {
    const img = document.querySelector(".tile img.poster");
    return img?.complete && img.naturalWidth > 0;
  });
  results.tile = await page.locator(".tile").first().textContent();
  await audit(page, "library");
  await shot(page, "library");
  await page.locator(".tile").first().click();
  await page.waitForURL(/\/app\/assets\//);

  // Delete, with the confirmation.
  await page.getByRole("button", { name: "Delete…" }).click();
  await page.getByRole("dialog").waitFor();
  await audit(page, "delete-dialog");
  await shot(page, "delete-dialog");
  await page.getByRole("button", { name: "Delete for good" }).click();
  await page.getByRole("heading", { name: "Your library" }).waitFor();
  results.after_delete = await page.locator(".notice").textContent();
  await page.getByText("No files yet").waitFor();
  await audit(page, "library-after-delete");
  await shot(page, "library-after-delete");

  // A large file goes in parallel parts with the multipart routes; random bytes are not media, so the
  // ingest step refuses the upload once it is complete, and the file's page says why.
  const big = join(tmpdir(), `redub-big-${process.pid}.mp4`);
  writeFileSync(big, randomBytes(65 << 20));
  const parts = [];
  let complete = 0;
  page.on("request", (r) => {
    if (r.method() === "PUT" && /[?&]partNumber=\d+/.test(r.url())) parts.push(r.url());
  });
  page.on("response", (r) => {
    if (/\/uploads\/[0-9a-f-]{36}\/complete$/.test(new URL(r.url()).pathname)) complete = r.status();
  });
  await page.locator('input[type="file"]').setInputFiles(big);
  await page.getByRole("button", { name: "Upload and start" }).click();
  await page.waitForURL(/\/app\/assets\/[0-9a-f-]{36}$/, { timeout: 120000 });
  rmSync(big);
  const refusedAfter = page.getByText("This file was refused");
  await refusedAfter.waitFor({ timeout: 120000 });
  results.multipart = {
    parts: new Set(parts).size,
    put_requests: parts.length,
    complete,
    refused: await refusedAfter.textContent(),
  };
  log(`multipart: ${JSON.stringify(results.multipart)}`);
  await page.getByRole("button", { name: "Delete…" }).click();
  await page.getByRole("button", { name: "Delete for good" }).click();
  await page.getByText("No files yet").waitFor();
} catch (e) {
  results.problems.push(`failed: ${e.stack || e}`);
  for (const p of browser.contexts().flatMap((c) => c.pages())) {
    await p.screenshot({ path: join(shots, "failure.png"), fullPage: true }).catch(() => {});
  }
} finally {
  await browser.close();
  process.stdout.write(`${JSON.stringify(results)}\n`);
}
