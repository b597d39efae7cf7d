// The plugin's one setting written by hand, as the package README allows.
export default { optimizeDeps: { exclude: ["weftdb"] } };
