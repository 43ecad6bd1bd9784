import { defineConfig } from 'vite';

// Deterministic output: content-hashed names, no timestamps, no source maps; the committed
// `dist/` is compared byte for byte with a fresh build (see README.md).
export default defineConfig({
  base: '/',
  build: {
    outDir: process.env.LOOKOUT_UI_OUT_DIR || 'dist',
    emptyOutDir: true,
    sourcemap: false,
    reportCompressedSize: true,
    assetsInlineLimit: 0,
  },
  server: {
    proxy: Object.fromEntries(
      // `ws`: live tail's /loki/api/v1/tail WebSocket goes through the proxy too.
      ['/api', '/loki', '/-/'].map((p) => [p, { target: process.env.LOOKOUT_URL || 'http://127.0.0.1:9700', ws: true }]),
    ),
  },
});
