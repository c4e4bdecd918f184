import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import tailwindcss from '@tailwindcss/vite'
import react from '@vitejs/plugin-react'
import type { Plugin } from 'vite'
import { defineConfig } from 'vitest/config'

// The server's API docs page (/api/docs) loads Swagger UI from here rather than from a CDN,
// so it works on machines without Internet access.
const SWAGGER_UI_FILES = [
  'swagger-ui-bundle.js',
  'swagger-ui-standalone-preset.js',
  'swagger-ui.css',
]

function apiDocsAssets(): Plugin {
  const require = createRequire(import.meta.url)
  const source = path.dirname(require.resolve('swagger-ui-dist/package.json'))
  return {
    name: 'spikex-api-docs-assets',
    apply: 'build',
    generateBundle() {
      for (const file of SWAGGER_UI_FILES) {
        this.emitFile({
          type: 'asset',
          fileName: `vendor/swagger-ui/${file}`,
          source: readFileSync(path.join(source, file)),
        })
      }
    },
  }
}

// The dev server hands API and websocket traffic to the SPIKE-X server (`just run`).
// SPIKEX_DEV_API_ORIGIN points it elsewhere; the production bundle uses relative URLs only.
const apiOrigin = process.env.SPIKEX_DEV_API_ORIGIN ?? 'http://127.0.0.1:8000'

export default defineConfig({
  plugins: [react(), tailwindcss(), apiDocsAssets()],
  server: {
    proxy: {
      '/api': { target: apiOrigin, changeOrigin: true },
      '/ws': { target: apiOrigin, changeOrigin: true, ws: true },
    },
  },
  preview: {
    proxy: {
      '/api': { target: apiOrigin, changeOrigin: true },
      '/ws': { target: apiOrigin, changeOrigin: true, ws: true },
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts'],
  },
})
