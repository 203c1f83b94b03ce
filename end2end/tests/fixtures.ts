import { test as base, expect, Page } from '@playwright/test';

/**
 * Every test fails on a browser console error or an uncaught page error. Exceptions:
 * Chromium's "Failed to load resource" for a page navigation answered 404 on purpose (a
 * not-found page), and for a request a test expects to fail (`consoleErrors.allow(url)`,
 * e.g. a wrong password's 401), and messages a test provokes on purpose
 * (`consoleErrors.allowMessage(text)`, e.g. a Content-Security-Policy refusal); a failing
 * script, style or other call still fails the test.
 */
export const test = base.extend<{
  consoleErrors: { allow: (url: RegExp) => void; allowMessage: (text: RegExp) => void };
}>({
  consoleErrors: [
    async ({ page }, use) => {
      const errors: { text: string; url: string }[] = [];
      const notFoundPages = new Set<string>();
      const allowed: RegExp[] = [];
      const allowedMessages: RegExp[] = [];
      page.on('response', (r) => {
        if (r.request().isNavigationRequest() && r.status() === 404) notFoundPages.add(r.url());
      });
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push({ text: m.text(), url: m.location().url });
      });
      page.on('pageerror', (e) => errors.push({ text: e.message, url: '' }));
      await use({
        allow: (url) => allowed.push(url),
        allowMessage: (text) => allowedMessages.push(text),
      });
      const failedLoad = (e: { text: string }) => e.text.startsWith('Failed to load resource');
      const unexpected = errors
        .filter((e) => !(failedLoad(e) && (notFoundPages.has(e.url) || allowed.some((a) => a.test(e.url)))))
        .filter((e) => !allowedMessages.some((m) => m.test(e.text)))
        .map((e) => `${e.text} (${e.url})`);
      expect(unexpected, 'browser console errors').toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };

/** Waits until the WASM bundle has hydrated the page (the app flips data-hydrated). */
export async function hydrated(page: Page) {
  await expect(page.locator('[data-hydrated]')).toHaveAttribute('data-hydrated', 'true');
  // Pages are lazy chunks: after a click on a link, the next page is there once the router
  // is no longer loading it.
  await expect(page.locator('main')).toHaveAttribute('aria-busy', 'false');
}

export const ADMIN_EMAIL = 'admin@localhost';
export const ADMIN_PASSWORD = 'e2e admin password';

/** Signs in through the form and waits for the page it leads to. */
export async function signIn(page: Page, next = '/') {
  await page.goto(`/sign-in?next=${encodeURIComponent(next)}`);
  await hydrated(page);
  await page.getByLabel('E-mail').fill(ADMIN_EMAIL);
  await page.getByLabel('Password').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('signed-in-as')).toHaveText(ADMIN_EMAIL);
  await page.waitForURL((url) => url.pathname + url.search === next);
  await hydrated(page);
}

/** The payload of a JWT. */
export function claims(token: string): Record<string, unknown> {
  const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
  return JSON.parse(Buffer.from(payload, 'base64').toString('utf8'));
}

export type NewUser = { deviceToken: string; accessToken: string; refreshToken: string };

/** Registers a user through the dashboard's form; returns what it showed once. */
export async function registerInUi(page: Page, fields: Record<string, string>): Promise<NewUser> {
  await page.goto('/register');
  await hydrated(page);
  for (const [label, value] of Object.entries(fields)) {
    await page.getByLabel(label, { exact: true }).fill(value);
  }
  await page.getByRole('button', { name: 'Register', exact: true }).click();
  const done = page.getByTestId('registered');
  await expect(done).toBeVisible();
  return {
    deviceToken: (await done.getByTestId('new-device-token').textContent())!.trim(),
    accessToken: (await done.getByTestId('new-access-token').textContent())!.trim(),
    refreshToken: (await done.getByTestId('new-refresh-token').textContent())!.trim(),
  };
}
