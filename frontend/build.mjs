// Bundles the pages' scripts and styles into the Django static folder (gitignored output).
// dashboard.js (ECharts) is a bundle of its own: only the dashboard page loads it.
import * as esbuild from "esbuild";
import { mkdirSync } from "node:fs";

const outdir = "../src/shequ/web/static/build";
mkdirSync(outdir, { recursive: true });
await esbuild.build({
  entryPoints: ["src/app.ts", "src/app.css", "src/dashboard.ts"],
  bundle: true,
  minify: true,
  sourcemap: true,
  target: ["chrome100", "firefox100", "safari15"],
  outdir,
  loader: { ".png": "file", ".svg": "file" },
  logLevel: "warning",
});
