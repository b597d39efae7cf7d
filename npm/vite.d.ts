/**
 * weftdb's Vite plugin: keeps weftdb out of the dev server's dependency
 * pre-bundling (`optimizeDeps.exclude`), which Vite 6 and 7 need to serve
 * its wasm. Use it as `plugins: [weftdb()]` in vite.config.
 */
export default function weftdb(): {
  name: "weftdb";
  config(): { optimizeDeps: { exclude: string[] } };
};
