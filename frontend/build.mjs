// Bundles the pages' scripts and styles into the Django static folder (gitignored output).
// dashboard.js (ECharts), onemap.js (the one map) and screen.js (the big screen) are bundles of
// their own: only their pages load them.
import * as esbuild from "esbuild";
import { mkdirSync } from "node:fs";

const outdir = "../src/shequ/web/static/build";
mkdirSync(outdir, { recursive: true });
await esbuild.build({
  entryPoints: ["src/app.ts", "src/app.css", "src/dashboard.ts", "src/onemap.ts", "src/screen.ts", "src/duty.ts", "src/video.ts", "src/drones.ts"],
  bundle: true,
  minify: true,
  sourcemap: true,
  target: ["chrome100", "firefox100", "safari15"],
  outdir,
  loader: { ".png": "file", ".svg": "file" },
  logLevel: "warning",
});
