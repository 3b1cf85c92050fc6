// Bundles the reading-room page with NiiVue from node_modules (no CDN): web/src → web/dist.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";

mkdirSync("dist", { recursive: true });
await build({
  entryPoints: ["src/app.js"],
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2020",
  outfile: "dist/app.js",
  logLevel: "info",
});
copyFileSync("src/style.css", "dist/style.css");
