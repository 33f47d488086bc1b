import { defineConfig } from "vite";

// Relative asset paths: Tauri serves ui/dist from its own protocol.
export default defineConfig({
  base: "./",
  build: { outDir: "dist", emptyOutDir: true, target: "es2021", cssCodeSplit: false },
  test: { environment: "happy-dom" },
} as never);
