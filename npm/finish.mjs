// Completes the npm package that `wasm-pack build --target web --profile wasm`
// writes to pkg/, so that pkg/ is what a web developer installs:
//
//   - README.md: npm/README.md (wasm-pack copies the repository's, which
//     imports ../pkg/weftdb.js and talks of cargo);
//   - the license files of Cargo.toml's `license` (LICENSE-MIT, LICENSE-APACHE);
//   - the Vite plugin, `weftdb/vite` (npm/vite.js, npm/vite.d.ts);
//   - `weftdb/local`, the database without the network, when pkg/local/ holds
//     it (`wasm-pack build --target web --profile wasm --out-dir pkg/local --
//     --no-default-features`, see .ci/test): its weftdb.js, weftdb.d.ts,
//     weftdb_bg.wasm and snippets/ are kept, wasm-pack's package files there
//     (package.json, README, licenses, .gitignore) dropped;
//   - package.json: `exports`, `files`, `keywords`, `homepage`, `bugs`
//     (wasm-pack writes name, version, license and repository from Cargo.toml);
//   - weftdb.d.ts without the `[Symbol.dispose](): void;` lines wasm-bindgen
//     writes into every class: that symbol is not in the lib of `--target
//     es2022`. The types say it through `WeftDisposable` instead (npm/types.d.ts),
//     only where the lib has it.
//
//   node npm/finish.mjs [pkg-dir]      (after wasm-pack; idempotent)
//
// The repository URL has one place: Cargo.toml's `repository`.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..");
const PKG = path.resolve(process.argv[2] ?? path.join(ROOT, "pkg"));

const fail = (msg) => {
  console.error(`npm/finish.mjs: ${msg}`);
  process.exit(1);
};
if (!fs.existsSync(path.join(PKG, "weftdb.js"))) fail(`${PKG} has no weftdb.js: run wasm-pack build first`);

const cargo = fs.readFileSync(path.join(ROOT, "Cargo.toml"), "utf8");
const cargoField = (name) => cargo.match(new RegExp(`^${name}\\s*=\\s*"([^"]*)"`, "m"))?.[1];

// --- files ---------------------------------------------------------------------------
const copy = (from, to = path.basename(from)) => fs.copyFileSync(path.join(ROOT, from), path.join(PKG, to));
copy("npm/README.md", "README.md");
copy("npm/vite.js");
copy("npm/vite.d.ts");
const LICENSE_FILES = { MIT: "LICENSE-MIT", "Apache-2.0": "LICENSE-APACHE" };
const licenses = [];
for (const id of cargoField("license").split(/\s+OR\s+/)) {
  const file = LICENSE_FILES[id];
  if (!file || !fs.existsSync(path.join(ROOT, file))) fail(`no license file for ${id} (Cargo.toml's license)`);
  copy(file);
  licenses.push(file);
}

// --- weftdb.d.ts -------------------------------------------------------------------------
const LOCAL = path.join(PKG, "local");
const local = fs.existsSync(path.join(LOCAL, "weftdb.js"));
for (const dtsPath of [path.join(PKG, "weftdb.d.ts"), ...(local ? [path.join(LOCAL, "weftdb.d.ts")] : [])]) {
  const dts = fs.readFileSync(dtsPath, "utf8");
  fs.writeFileSync(dtsPath, dts.replace(/^[ \t]*\[Symbol\.dispose\]\(\): void;\n/gm, ""));
}
if (local) {
  for (const f of fs.readdirSync(LOCAL)) {
    if (!/^(weftdb\.js|weftdb\.d\.ts|weftdb_bg\.wasm|snippets)$/.test(f)) {
      fs.rmSync(path.join(LOCAL, f), { recursive: true });
    }
  }
} else {
  console.warn(`npm/finish.mjs: WARNING: no ${LOCAL}/weftdb.js: the package goes without weftdb/local`);
}

// --- package.json --------------------------------------------------------------------------
const pkgPath = path.join(PKG, "package.json");
const pkg = JSON.parse(fs.readFileSync(pkgPath, "utf8"));
const files = new Set(pkg.files ?? []);
for (const f of ["weftdb.js", "weftdb.d.ts", "weftdb_bg.wasm", "vite.js", "vite.d.ts", ...licenses]) files.add(f);
if (local) files.add("local/");
const repository = cargoField("repository");
const web = repository.replace(/^git\+/, "").replace(/\.git$/, "");
const finished = {
  name: pkg.name,
  type: "module",
  description: pkg.description,
  version: pkg.version,
  license: pkg.license,
  repository: { type: "git", url: repository },
  homepage: `${web}#readme`,
  bugs: { url: `${web}/issues` },
  keywords: ["database", "local-first", "p2p", "crdt", "indexeddb", "libp2p", "wasm", "offline"],
  files: [...files],
  main: "weftdb.js",
  types: "weftdb.d.ts",
  exports: {
    ".": { types: "./weftdb.d.ts", default: "./weftdb.js" },
    "./vite": { types: "./vite.d.ts", default: "./vite.js" },
    // For apps that host the wasm themselves: init({ module_or_path: url }).
    "./weftdb_bg.wasm": "./weftdb_bg.wasm",
    // The database without the network: the same API minus peers, a third of the wasm.
    ...(local && {
      "./local": { types: "./local/weftdb.d.ts", default: "./local/weftdb.js" },
      "./local/weftdb_bg.wasm": "./local/weftdb_bg.wasm",
    }),
    "./package.json": "./package.json",
  },
  sideEffects: [...new Set([...(pkg.sideEffects ?? ["./snippets/*"]), ...(local ? ["./local/snippets/*"] : [])])],
};
fs.writeFileSync(pkgPath, `${JSON.stringify(finished, null, 2)}\n`);

if (/example\.(invalid|com|org)/.test(repository)) {
  console.warn(`npm/finish.mjs: WARNING: Cargo.toml's repository is a placeholder (${repository}); set it before publishing`);
}
console.log(`npm/finish.mjs: ${PKG} is complete (README, ${licenses.join(", ")}, weftdb/vite,${local ? " weftdb/local," : ""} exports)`);
