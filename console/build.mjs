// Bundles src/main.tsx (with the API client, src/client/) into dist/app.js, and copies the page and its style beside it. The output
// depends only on the sources and package-lock.json: CI rebuilds it and
// compares with the committed dist/.
import * as esbuild from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));

const dist = path.join(here, "dist");
mkdirSync(dist, { recursive: true });
await esbuild.build({
  entryPoints: [path.join(here, "src/main.tsx")],
  outfile: path.join(dist, "app.js"),
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  jsx: "automatic",
  jsxImportSource: "preact",
  charset: "utf8",
  legalComments: "none",
  logLevel: "warning",
});
for (const f of ["index.html", "style.css"]) {
  copyFileSync(path.join(here, "src", f), path.join(dist, f));
}
