import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import { fileURLToPath } from "node:url";

// The build goes into the Python package (package data), so an installed server serves it
// without Node. `npm run dev` proxies the API to a server on :5000.
const outDir = fileURLToPath(new URL("../src/datamint/server/webapp/static", import.meta.url));
const api = "http://127.0.0.1:5000";

export default defineConfig({
  plugins: [react()],
  // vtk.js (under Cornerstone) pulls in xmlbuilder2, which extends Node's EventEmitter: use the
  // `events` package in the browser instead of Vite's empty stand-in for Node built-ins.
  resolve: { alias: { events: "events/" } },
  build: { outDir, emptyOutDir: true, chunkSizeWarningLimit: 4096, sourcemap: false },
  server: {
    proxy: Object.fromEntries(
      ["/auth", "/users", "/projects", "/resources", "/annotations", "/annotationsets", "/audit-events",
       "/datasets", "/invitations", "/health"].map((p) => [p, api]),
    ),
  },
});
