import { test as base, expect, Page } from '@playwright/test';

/**
 * Every test fails on a browser console error or an uncaught page error. The one exception
 * is Chromium's "Failed to load resource" for a page navigation answered 404 on purpose
 * (a not-found page); a failing script, style or API call still fails the test.
 */
export const test = base.extend<{ consoleErrors: string[] }>({
  consoleErrors: [
    async ({ page }, use) => {
      const errors: { text: string; url: string }[] = [];
      const notFoundPages = new Set<string>();
      page.on('response', (r) => {
        if (r.request().isNavigationRequest() && r.status() === 404) notFoundPages.add(r.url());
      });
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push({ text: m.text(), url: m.location().url });
      });
      page.on('pageerror', (e) => errors.push({ text: e.message, url: '' }));
      const texts: string[] = [];
      await use(texts);
      const unexpected = errors
        .filter((e) => !(notFoundPages.has(e.url) && e.text.startsWith('Failed to load resource')))
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
}
