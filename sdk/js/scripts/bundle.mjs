// Bundles src/ with esbuild.
//
//   node scripts/bundle.mjs              dist/index.js (ESM for bundlers) and the size report
//   node scripts/bundle.mjs --web        the demo page's copy, internal/web/static/herald-client.js
//   node scripts/bundle.mjs --check-web  fails when that copy differs from a fresh build
//
// The page's copy is minified ESM, the same bytes for the same sources and
// esbuild version, so a fresh build can be compared with the committed one.
import { build } from "esbuild";
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = fileURLToPath(new URL("..", import.meta.url));
const webCopy = fileURLToPath(new URL("../../../internal/web/static/herald-client.js", import.meta.url));
const common = {
  absWorkingDir: root,
  entryPoints: ["src/index.ts"],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2020",
  legalComments: "none",
  logLevel: "warning",
};

async function minified() {
  const r = await build({
    ...common,
    minify: true,
    write: false,
    banner: { js: "// @heraldhq/client: built from sdk/js by `npm run bundle:web`; do not edit." },
  });
  return r.outputFiles[0].contents;
}

const arg = process.argv[2] ?? "";
if (arg === "--web") {
  await writeFile(webCopy, await minified());
} else if (arg === "--check-web") {
  const fresh = Buffer.from(await minified());
  const committed = await readFile(webCopy).catch(() => Buffer.alloc(0));
  if (!fresh.equals(committed)) {
    console.error("internal/web/static/herald-client.js differs from a fresh build of sdk/js: run `make sdk` and commit it");
    process.exit(1);
  }
} else if (arg === "") {
  await build({ ...common, outfile: "dist/index.js" });
  const min = await minified();
  console.log(`dist/index.js built; minified ${min.length} bytes, minified+gzip ${gzipSync(min, { level: 9 }).length} bytes`);
} else {
  console.error(`unknown argument ${arg}`);
  process.exit(2);
}
