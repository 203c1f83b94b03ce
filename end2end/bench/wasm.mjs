// What a browser loads before the dashboard is usable, on demand (bash .ci/bench wasm runs
// it against a release server; never part of the tests). For the sign-in page, the users page
// and the overview, each loaded RUNS times in a fresh Chromium context with the cache off and
// the CPU slowed down 4x (DevTools' throttling), and RUNS times more over a 10 Mbit/s network
// with 40 ms latency: the bytes that came over the wire per kind (WASM, JavaScript, CSS, HTML;
// as transferred, so compressed where the server compresses) up to the moment the page says
// it has hydrated (the app's data-hydrated="true") and the time from navigation to that
// moment. Pages are split into WASM chunks: it also lists the .wasm files each page fetched
// by then, which the caller measures gzipped. From the users page, the menu's link to the
// overview is clicked as soon as the page has hydrated, and (on other loads) after 2 s on the
// page; the time until the overview shows is measured with the WASM fetched after hydration.
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

// `then`, when given: after the page hydrated, the menu link it names is clicked and the time
// until the next page shows its `shown` element is measured, with the WASM fetched after the
// first page hydrated (what the page fetches ahead once it is interactive, and the click's).
// `slowNetwork`: the network of a small office as well (10 Mbit/s down, 40 ms latency).
async function load(path, signedIn, then, slowNetwork) {
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
  // The moment the page says it has hydrated, in the page's clock (the machine's, as CDP's).
  await page.addInitScript(() => {
    new MutationObserver((_, observer) => {
      if (document.querySelector('[data-hydrated="true"]')) {
        window.__hydratedAt = Date.now();
        observer.disconnect();
      }
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-hydrated'] });
  });
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 });
  if (slowNetwork) {
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 40,
      downloadThroughput: (10 * 1000 * 1000) / 8,
      uploadThroughput: (5 * 1000 * 1000) / 8,
    });
  }
  // Every request: when it was sent, its kind, its path, its bytes once it has finished.
  const requests = new Map();
  const encodings = {};
  cdp.on('Network.requestWillBeSent', (e) => {
    requests.set(e.requestId, { sentAt: e.wallTime * 1000, path: new URL(e.request.url).pathname, bytes: 0 });
  });
  cdp.on('Network.responseReceived', (e) => {
    const r = requests.get(e.requestId);
    if (!r) return;
    r.kind = kindOf(e.response.url, e.response.mimeType);
    const encoding = Object.entries(e.response.headers).find(([k]) => k.toLowerCase() === 'content-encoding');
    encodings[r.kind] = encoding ? encoding[1] : 'none';
  });
  cdp.on('Network.loadingFinished', (e) => {
    const r = requests.get(e.requestId);
    if (r) r.bytes = e.encodedDataLength;
  });
  const tally = (sent) => {
    const bytes = { wasm: 0, js: 0, css: 0, html: 0, other: 0 };
    const wasmFiles = new Set();
    for (const r of requests.values()) {
      if (!r.kind || !sent(r.sentAt)) continue;
      bytes[r.kind] += r.bytes;
      if (r.kind === 'wasm') wasmFiles.add(r.path);
    }
    return { bytes, wasmFiles: [...wasmFiles].sort() };
  };
  const start = Date.now();
  await page.goto(`${base}${path}`);
  await page.locator('[data-hydrated="true"]').waitFor({ state: 'attached', timeout: 60_000 });
  const hydratedMs = Date.now() - start;
  const hydratedAt = await page.evaluate(() => window.__hydratedAt);
  if (!hydratedAt) throw new Error(`${path}: the moment of hydration was not seen`);
  const result = { ...tally((at) => at <= hydratedAt), encodings, hydratedMs };
  if (then) {
    if (then.idleMs) await page.waitForTimeout(then.idleMs);
    const clicked = Date.now();
    await page.locator(`header a[href="${then.link}"]`).click();
    await page.locator(then.shown).waitFor({ state: 'visible', timeout: 60_000 });
    const shownMs = Date.now() - clicked;
    const after = tally((at) => at > hydratedAt);
    result.next = { shownMs, wasmBytes: after.bytes.wasm, wasmFiles: after.wasmFiles };
  }
  await context.close();
  return result;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return [sorted[Math.floor(sorted.length / 2)], sorted[0]];
}

// `/` is the users page; from it, the menu's link to the overview (another group of pages).
// The link is clicked at once, and again (on another load of the page, whose own figures are
// not printed twice) after 2 s on the page, as an admin would.
const overview = { link: '/overview', shown: '#activity-title', idleMs: 0 };
const pages = [
  ['/sign-in', false],
  ['/', true, overview],
  ['/overview', true],
  ['/', true, { ...overview, idleMs: 2000 }, 'navigation only'],
];
for (const [path, signedIn, then, navigationOnly] of pages) {
  const runs = [];
  const slow = [];
  for (let i = 0; i < RUNS; i++) {
    runs.push(await load(path, signedIn, then, false));
    slow.push(await load(path, signedIn, then, true));
  }
  const [hydratedMedianMs, hydratedMinMs] = median(runs.map((r) => r.hydratedMs));
  const [slowNetMedianMs, slowNetMinMs] = median(slow.map((r) => r.hydratedMs));
  const last = runs[runs.length - 1];
  const line = {
    page: path,
    runs: RUNS,
    hydratedMedianMs,
    hydratedMinMs,
    slowNetMedianMs,
    slowNetMinMs,
    bytes: last.bytes,
    encodings: last.encodings,
    wasmFiles: last.wasmFiles,
    navigationOnly: Boolean(navigationOnly),
  };
  if (then) {
    const [shownMedianMs, shownMinMs] = median(runs.map((r) => r.next.shownMs));
    const [slowNetShownMedianMs, slowNetShownMinMs] = median(slow.map((r) => r.next.shownMs));
    line.next = { path: then.link, idleMs: then.idleMs, shownMedianMs, shownMinMs, slowNetShownMedianMs, slowNetShownMinMs, ...last.next };
  }
  console.log(JSON.stringify(line));
}
await browser.close();
