// The dashboard's build: one script and one stylesheet with fixed names under ../dist/assets,
// so that the Rust crate embeds a known list of files (no hashes to chase; the gateway serves
// them with an ETag and `no-cache` instead).
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/ui/',
  build: {
    outDir: process.env.UI_OUT_DIR || '../dist',
    emptyOutDir: true,
    sourcemap: false,
    // The preload polyfill would be an inline script, which the Content-Security-Policy forbids;
    // there is a single chunk anyway.
    modulePreload: { polyfill: false },
    rollupOptions: {
      output: {
        entryFileNames: 'assets/app.js',
        chunkFileNames: 'assets/[name].js',
        assetFileNames: 'assets/app[extname]',
      },
    },
  },
});
