// Bundles src/ into the directory given (default dist/): main.js and
// index.html, the whole app, served by examples/connect --web DIR.
// node build.mjs [outdir]
import { build } from "esbuild";

await build({
  entryPoints: ["src/main.ts", "src/index.html"],
  absWorkingDir: import.meta.dirname,
  outdir: process.argv[2] ?? "dist",
  bundle: true,
  format: "esm",
  target: "es2022",
  loader: { ".html": "copy" },
  minify: true,
  sourcemap: true,
  logLevel: "warning",
});
