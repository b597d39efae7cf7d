// weftdb's Vite plugin: `import weftdb from "weftdb/vite"`, then
// `plugins: [weftdb()]` in vite.config.js.
//
// Vite 6 and 7 pre-bundle dependencies into node_modules/.vite/deps/ for
// their dev server. weftdb.js finds its wasm next to itself
// (`new URL("weftdb_bg.wasm", import.meta.url)`), and no wasm is next to the
// pre-bundled copy: the dev server answers with index.html and the page fails
// with "expected magic word 00 61 73 6d". Leaving weftdb out of pre-bundling
// keeps it where its wasm is (`weftdb/local` too: Vite excludes an excluded
// package's subpaths). Vite 8 copes on its own; there the plugin
// changes nothing that matters. Production builds never needed it.
export default function weftdb() {
  return {
    name: "weftdb",
    config() {
      return { optimizeDeps: { exclude: ["weftdb"] } };
    },
  };
}
