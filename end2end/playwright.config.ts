import { defineConfig } from '@playwright/test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';

/**
 * A port free right now, from the OS. (A random guess in 39000-39999 lies in Linux's
 * ephemeral range: once, during the PostgreSQL suite, it was a client connection's source
 * port and the server could not listen.)
 */
function freePort(): number {
  const script =
    "const s = require('net').createServer(); s.listen(0, '127.0.0.1', () => { process.stdout.write(String(s.address().port)); s.close(); });";
  return Number(execFileSync(process.execPath, ['-e', script]).toString());
}

// The server under test: the debug build from `cargo leptos build`, on its own port with a
// fresh database, started from the workspace root (the site root is relative).
// TUS_E2E_DATABASE_URL names an (empty) database to use, e.g. PostgreSQL from .ci/test;
// unset, a fresh SQLite file. The values are kept in the environment because Playwright
// loads this file again in its workers.
const port = Number(process.env.TUS_E2E_PORT ?? freePort());
process.env.TUS_E2E_PORT = String(port);
if (!process.env.TUS_E2E_DATABASE_URL) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tus-e2e-'));
  process.env.TUS_E2E_DATABASE_URL = `sqlite://${path.join(dir, 'tus.db')}`;
}
const baseURL = `http://127.0.0.1:${port}`;
// A real SMTP server (maildev) the service sends e-mail to; its HTTP API shows what arrived.
const smtpPort = Number(process.env.TUS_E2E_SMTP_PORT ?? freePort());
const mailWebPort = Number(process.env.TUS_E2E_MAIL_WEB_PORT ?? freePort());
process.env.TUS_E2E_SMTP_PORT = String(smtpPort);
process.env.TUS_E2E_MAIL_WEB_PORT = String(mailWebPort);
export const mailApi = `http://127.0.0.1:${mailWebPort}/api/email`;

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
  },
  webServer: [{
    command: `${path.resolve(__dirname, 'node_modules/.bin/maildev')} --smtp ${smtpPort} --web ${mailWebPort} --ip 127.0.0.1 --web-ip 127.0.0.1 --silent --mail-directory ${fs.mkdtempSync(path.join(os.tmpdir(), 'tus-e2e-mail-'))}`,
    url: `http://127.0.0.1:${mailWebPort}/api/email`,
    reuseExistingServer: false,
    timeout: 30_000,
    stdout: 'ignore',
    stderr: 'pipe',
  }, {
    command: `${path.resolve(__dirname, '..', 'target/debug/tus')} serve`,
    cwd: path.resolve(__dirname, '..'),
    url: `${baseURL}/readyz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'ignore',
    stderr: 'pipe',
    env: {
      TUS_DATABASE_URL: process.env.TUS_E2E_DATABASE_URL,
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      TUS_ADMIN_PASSWORD: 'e2e admin password',
      TUS_SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
      // E-mail invites link here.
      TUS_PUBLIC_URL: baseURL,
      RUST_LOG: 'warn',
    },
  }],
});
