// The configuration the package README gives: weftdb's Vite plugin.
import weftdb from "weftdb/vite";

export default { plugins: [weftdb()] };
