// weftdb's npm package as `npm pack` of pkg/ makes it: what a web developer
// gets without reading our repository. Its README, licenses and package.json,
// and its TypeScript types: tests/pkg/example.ts (the whole API) and every
// ```ts block of the package README compile with `tsc --noEmit --strict
// --target es2022` (that target's default lib) against the packed package,
// with TypeScript 5.9 (JavaScript) and 7 (native).
//
//   node --test --test-reporter=spec tests/pkg/package.test.mjs   (needs pkg/, npm ci in tests/pkg)
// Not at the same time as bundlers.test.mjs: both install the package into tests/pkg/vite*/.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";

import { HERE, REPO_ROOT, installPacked, packPkg, run } from "./lib.mjs";

const PLACEHOLDER_HOSTS = /example\.(invalid|com|org)|localhost/;

function cargoField(name) {
  const toml = fs.readFileSync(path.join(REPO_ROOT, "Cargo.toml"), "utf8");
  const m = toml.match(new RegExp(`^${name}\\s*=\\s*"([^"]*)"`, "m"));
  return m?.[1];
}

let files, unpacked, pkgJson, readme;

before(() => {
  const packed = packPkg();
  files = packed.files;
  unpacked = fs.mkdtempSync(path.join(os.tmpdir(), "weftdb-unpacked-"));
  run("tar", ["-xzf", packed.tarball, "-C", unpacked, "--strip-components=1"]);
  pkgJson = JSON.parse(fs.readFileSync(path.join(unpacked, "package.json"), "utf8"));
  readme = fs.readFileSync(path.join(unpacked, "README.md"), "utf8");
});

describe("the package", () => {
  test("has a README of its own: install, Vite, plain ESM, the API, the error codes", () => {
    assert.match(readme, /npm install weftdb/);
    assert.match(readme, /from "weftdb"/);
    assert.match(readme, /weftdb\/vite/);
    assert.match(readme, /importmap/);
    assert.doesNotMatch(readme, /\.\.\/pkg\//, "the repository's README (imports ../pkg/weftdb.js)");
    assert.doesNotMatch(readme, /\bcargo\b/i, "talks of cargo");
    for (const code of rustErrorCodes()) assert.match(readme, new RegExp(`\\b${code}\\b`), `README lacks ${code}`);
  });

  test("ships license files matching Cargo.toml's license", () => {
    const license = cargoField("license");
    assert.equal(pkgJson.license, license);
    const texts = Object.fromEntries(
      files.filter((f) => /^LICENSE/i.test(f)).map((f) => [f, fs.readFileSync(path.join(unpacked, f), "utf8")]),
    );
    for (const id of license.split(/\s+OR\s+/)) {
      const marker = { MIT: /Permission is hereby granted, free of charge/, "Apache-2.0": /Apache License\s+Version 2\.0/ }[id];
      assert.ok(marker, `no check for license ${id}`);
      assert.ok(
        Object.values(texts).some((t) => marker.test(t)),
        `no ${id} license text among ${Object.keys(texts)}`,
      );
    }
  });

  // Every byte of the wasm is downloaded by every user of an app (issue 11's
  // budget; BENCHMARKS.md, "wasm size"): a crate that brings back a table or
  // a codec the page had shed fails here, not in a later measurement.
  test("what a page downloads: the wasm gzipped ≤ 900 KiB with the network, ≤ 400 KiB for weftdb/local", () => {
    for (const [file, budget] of [["weftdb_bg.wasm", 900 * 1024], ["local/weftdb_bg.wasm", 400 * 1024]]) {
      const gzipped = zlib.gzipSync(fs.readFileSync(path.join(unpacked, file)), { level: 9 }).length;
      assert.ok(gzipped <= budget, `${file}: ${gzipped} B gzipped, over its ${budget} B budget`);
    }
  });

  // The signature bench's hooks (src/wasm/verify.rs) are exported only by a
  // build with --features bench-exports: ~1.5 KB no user's page pays for.
  test("exports no test hooks (__verifyBlocks, __signedParts, __webcryptoJudged)", () => {
    for (const file of ["weftdb.js", "local/weftdb.js"]) {
      const glue = fs.readFileSync(path.join(unpacked, file), "utf8");
      assert.doesNotMatch(glue, /__verifyBlocks|__signedParts|__webcryptoJudged/, file);
    }
  });

  test("package.json: exports, types, module type, files that exist", () => {
    assert.equal(pkgJson.type, "module");
    assert.equal(pkgJson.types, "weftdb.d.ts");
    const root = pkgJson.exports?.["."];
    assert.deepEqual(root, { types: "./weftdb.d.ts", default: "./weftdb.js" });
    assert.deepEqual(pkgJson.exports["./vite"], { types: "./vite.d.ts", default: "./vite.js" });
    assert.deepEqual(pkgJson.exports["./local"], { types: "./local/weftdb.d.ts", default: "./local/weftdb.js" });
    assert.equal(pkgJson.exports["./package.json"], "./package.json");
    const targets = [];
    const walk = (v) => (typeof v === "string" ? targets.push(v.replace(/^\.\//, "")) : Object.values(v).forEach(walk));
    walk(pkgJson.exports);
    for (const f of new Set([...targets.filter((t) => !t.endsWith(".json")), pkgJson.main, pkgJson.types])) {
      assert.ok(files.includes(f), `${f} is named in package.json but not in the package (${files})`);
    }
    assert.ok(pkgJson.keywords?.length, "keywords");
  });

  test("repository: Cargo.toml's, the one place it is set", () => {
    assert.equal(pkgJson.repository?.url, cargoField("repository"));
  });

  const repo = cargoField("repository");
  test(
    "repository is a real address",
    PLACEHOLDER_HOSTS.test(repo ?? "") ? { todo: `Cargo.toml's repository is a placeholder: ${repo}` } : {},
    () => {
      assert.doesNotMatch(pkgJson.repository.url, PLACEHOLDER_HOSTS);
    },
  );
});

/** The codes a page can see: Error::code() in src/error.rs and the node's BAD_REQUEST. */
function rustErrorCodes() {
  const src = fs.readFileSync(path.join(REPO_ROOT, "src", "error.rs"), "utf8");
  const body = src.slice(src.indexOf("pub fn code("));
  const codes = new Set([...body.matchAll(/=> "([A-Z_]+)"/g)].map((m) => m[1]));
  const command = fs.readFileSync(path.join(REPO_ROOT, "src", "node", "command.rs"), "utf8");
  for (const m of command.matchAll(/code: "([A-Z_]+)"/g)) codes.add(m[1]);
  assert.ok(codes.size >= 9, `found only ${[...codes]}`);
  return [...codes];
}

describe("the TypeScript types", () => {
  let dts;
  before(() => {
    dts = fs.readFileSync(path.join(unpacked, "weftdb.d.ts"), "utf8");
  });

  test("WeftErrorCode lists every code the Rust side returns", () => {
    const union = dts.match(/export type WeftErrorCode\s*=([^;]*);/)?.[1] ?? "";
    const listed = new Set([...union.matchAll(/"([A-Z_]+)"/g)].map((m) => m[1]));
    for (const code of rustErrorCodes()) assert.ok(listed.has(code), `WeftErrorCode lacks ${code}`);
  });

  test("no result or argument of the API is any or unknown, every throwing method says WeftError", () => {
    // The part after InitInput is wasm-bindgen's raw exports, not the API.
    const api = dts.slice(0, dts.indexOf("export type InitInput"));
    assert.doesNotMatch(api, /Promise<unknown>|Promise<any>/);
    assert.doesNotMatch(api, /:\s*any\b/);
    for (const method of ["open", "addSchema", "importBlocks", "create", "update", "find", "set", "subscribe"]) {
      const doc = api.match(new RegExp(`/\\*\\*((?:(?!\\*/)[\\s\\S])*)\\*/\\s*(static |function )?${method}[<(]`))?.[1];
      assert.ok(doc, `${method} has no doc comment`);
      assert.match(doc, /WeftError/, `${method}'s doc does not say it rejects with WeftError`);
    }
  });

  // Compiles `sources` (name -> text) in a fresh directory where weftdb is
  // installed from the packed tarball, as a user's project would have it.
  function compile(tsc, sources, moduleFlags) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "weftdb-tsc-"));
    fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "tsc-user", type: "module", private: true }));
    installPacked(dir);
    for (const [name, text] of Object.entries(sources)) fs.writeFileSync(path.join(dir, name), text);
    const args = ["--noEmit", "--strict", "--target", "es2022", ...moduleFlags, ...Object.keys(sources)];
    try {
      run(process.execPath, [tsc, ...args], { cwd: dir });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  const COMPILERS = {
    "TypeScript 5.9": path.join(HERE, "node_modules", "typescript", "bin", "tsc"),
    "TypeScript 7": path.join(HERE, "node_modules", "typescript-7", "bin", "tsc"),
  };
  const MODULES = {
    "bundler resolution (Vite)": ["--module", "esnext", "--moduleResolution", "bundler"],
    "nodenext resolution": ["--module", "nodenext"],
  };
  const readmeSources = () => {
    const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
    assert.ok(blocks.length >= 2, "the README has TypeScript examples");
    // Each block is a module of its own (they may reuse names).
    return Object.fromEntries(blocks.map((b, i) => [`readme-${i}.ts`, `${b}\nexport {};\n`]));
  };
  // example.ts: the whole API of `weftdb`; local.ts: `weftdb/local`'s.
  const example = () => ({
    "example.ts": fs.readFileSync(path.join(HERE, "example.ts"), "utf8"),
    "local.ts": fs.readFileSync(path.join(HERE, "local.ts"), "utf8"),
  });

  for (const [compiler, tsc] of Object.entries(COMPILERS)) {
    test(`${compiler}, bundler resolution (Vite): example.ts (the whole API) and the README's examples pass tsc --strict --target es2022`, () => {
      assert.ok(fs.existsSync(tsc), `${tsc} missing: npm ci in tests/pkg (bash .ci/setup)`);
      compile(tsc, { ...example(), ...readmeSources() }, MODULES["bundler resolution (Vite)"]);
    });
    test(`${compiler}, nodenext resolution: example.ts passes tsc --strict --target es2022`, () => {
      compile(tsc, example(), MODULES["nodenext resolution"]);
    });
    test(`${compiler}: under --target esnext (a lib with Symbol.dispose) every class is Disposable`, () => {
      const using = `import init, { Database } from "weftdb";
await init();
{
  using db = await Database.open("d");
  using books = db.collection<{ title: string }>("Book");
  using collections = db.collections;
  using replicators = db.replicators;
}
`;
      compile(tsc, { "using.ts": using }, ["--target", "esnext", ...MODULES["bundler resolution (Vite)"]]);
    });
  }

  // The plugin's type against each Vite's own types (with TypeScript 7, the fast one).
  test("a vite.config.ts with weftdb/vite type-checks against Vite 6, 7 and 8", () => {
    const tsc = COMPILERS["TypeScript 7"];
    for (const v of [6, 7, 8]) {
      // In each Vite app's directory, where that Vite's types are installed.
      const dir = path.join(HERE, `vite${v}`);
      assert.ok(fs.existsSync(path.join(dir, "node_modules", "vite")), `npm ci in tests/pkg/vite${v} (bash .ci/setup)`);
      installPacked(dir);
      const file = path.join(dir, "typecheck.config.ts");
      fs.writeFileSync(
        file,
        'import { defineConfig } from "vite";\nimport weftdb from "weftdb/vite";\n\nexport default defineConfig({ plugins: [weftdb()] });\n',
      );
      try {
        const flags = [...MODULES["bundler resolution (Vite)"], "--skipLibCheck"];
        run(process.execPath, [tsc, "--noEmit", "--strict", "--target", "es2022", ...flags, file], { cwd: dir });
      } finally {
        fs.rmSync(file, { force: true });
      }
    }
  });
});
