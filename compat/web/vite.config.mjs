// Bundles the test page (index.html + src/main.js) with the official
// @powersync/web SDK. The SDK's wa-sqlite build and workers must not be
// pre-bundled by vite; the workers are ES modules.
import { defineConfig } from 'vite';

export default defineConfig({
  optimizeDeps: { exclude: ['@journeyapps/wa-sqlite', '@powersync/web'] },
  worker: { format: 'es' },
  build: { target: 'esnext' },
  logLevel: 'warn',
});
