import { resolve } from "node:path";
import preact from "@preact/preset-vite";
import { defineConfig } from "vitest/config";

// Two pages: the landing page (/, no JavaScript) and the console (/app/).
// Built files go to dist/ with content hashes under dist/assets/, so they can
// be cached for a year; the two index.html files are never cached.
export default defineConfig({
  plugins: [preact()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // Not /assets/: that path belongs to the API (GET /assets/{id}).
    assetsDir: "static",
    assetsInlineLimit: 0,
    rollupOptions: {
      input: {
        landing: resolve(import.meta.dirname, "index.html"),
        app: resolve(import.meta.dirname, "app/index.html"),
      },
    },
  },
  server: {
    // `npm run dev` serves the pages with hot reload and sends the API to a running `make dev`.
    proxy: Object.fromEntries(
      ["/auth", "/me", "/uploads", "/assets/", "/jobs", "/health"].map((p) => [p, "http://localhost:3000"]),
    ),
  },
  test: {
    environment: "happy-dom",
    environmentOptions: { happyDOM: { url: "http://localhost:3000/app/" } },
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
