// What a browser loads before the dashboard is usable, on demand (bash .ci/bench wasm runs
// it against a release server; never part of the tests). For the sign-in page and the users
// page, each loaded RUNS times in a fresh Chromium context with the cache off and the CPU
// slowed down 4x (DevTools' throttling): the bytes that came over the wire per kind (WASM,
// JavaScript, CSS, HTML; as transferred, so compressed where the server compresses) and the
// time from navigation to hydrated (the app's data-hydrated="true"). Pages are split into WASM
// chunks: it also lists the .wasm files each page fetched, which the caller measures gzipped.
//
//     node end2end/bench/wasm.mjs BASE ADMIN_PASSWORD   -> one JSON object per page on stdout
import { chromium } from '@playwright/test';

const [base, password] = process.argv.slice(2);
const RUNS = 5;
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
});

function kindOf(url, mime) {
  if (url.endsWith('.wasm') || mime === 'application/wasm') return 'wasm';
  if (mime.includes('javascript')) return 'js';
  if (mime === 'text/css') return 'css';
  if (mime === 'text/html') return 'html';
  return 'other';
}

async function load(path, signedIn) {
  const context = await browser.newContext();
  if (signedIn) {
    const res = await context.request.post(`${base}/api/sign_in`, {
      form: { email: 'admin@localhost', password, next: '/' },
      headers: { Origin: base },
      maxRedirects: 0,
    });
    if (res.status() >= 400) throw new Error(`sign-in: ${res.status()}`);
  }
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 });
  const requests = new Map();
  const bytes = { wasm: 0, js: 0, css: 0, html: 0, other: 0 };
  const encodings = {};
  const wasmFiles = new Set();
  cdp.on('Network.responseReceived', (e) => {
    const kind = kindOf(e.response.url, e.response.mimeType);
    if (kind === 'wasm') wasmFiles.add(new URL(e.response.url).pathname);
    requests.set(e.requestId, kind);
    const encoding = Object.entries(e.response.headers).find(([k]) => k.toLowerCase() === 'content-encoding');
    encodings[kind] = encoding ? encoding[1] : 'none';
  });
  cdp.on('Network.loadingFinished', (e) => {
    const kind = requests.get(e.requestId);
    if (kind) bytes[kind] += e.encodedDataLength;
  });
  const start = Date.now();
  await page.goto(`${base}${path}`);
  await page.locator('[data-hydrated="true"]').waitFor({ state: 'attached', timeout: 60_000 });
  const hydratedMs = Date.now() - start;
  await context.close();
  return { bytes, encodings, hydratedMs, wasmFiles: [...wasmFiles].sort() };
}

// `/` is the users page.
for (const [path, signedIn] of [['/sign-in', false], ['/', true]]) {
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(await load(path, signedIn));
  const times = runs.map((r) => r.hydratedMs).sort((a, b) => a - b);
  const last = runs[runs.length - 1];
  console.log(JSON.stringify({
    page: path,
    runs: RUNS,
    hydratedMedianMs: times[Math.floor(times.length / 2)],
    hydratedMinMs: times[0],
    bytes: last.bytes,
    encodings: last.encodings,
    wasmFiles: last.wasmFiles,
  }));
}
await browser.close();
