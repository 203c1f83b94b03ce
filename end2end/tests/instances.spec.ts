import { test, expect, hydrated } from './fixtures';

test('the instances page renders on the server, hydrates and reloads through a server function', async ({ page }) => {
  const response = await page.goto('/');
  expect(response?.status()).toBe(200);
  await expect(page).toHaveTitle('Instances · Telematics User Service');

  // Server-rendered: the first-start instance is in the HTML before any script runs.
  const table = page.getByTestId('instances');
  await expect(table.getByRole('row', { name: /Common/ })).toContainText('Default');
  await expect(table.getByRole('row', { name: /Common/ })).toContainText('Active');

  await hydrated(page);

  // The Reload button only works in the browser: it calls /api/list_instances from WASM.
  const call = page.waitForResponse((r) => r.url().endsWith('/api/list_instances') && r.status() === 200);
  await page.getByRole('button', { name: 'Reload' }).click();
  await call;
  await expect(page.getByTestId('instances-footer')).toHaveText('1 instance · reloaded 1×');
  await expect(table.getByRole('row', { name: /Common/ })).toBeVisible();

  await page.screenshot({ path: 'test-results/instances.png', fullPage: true });
});

test('the page shows no instance key', async ({ page, request }) => {
  await page.goto('/');
  await hydrated(page);
  const list = await (await request.post('/api/list_instances')).json();
  expect(list[0].name).toBe('Common');
  expect(JSON.stringify(list)).not.toMatch(/key/i);
});

test('an unknown page answers 404 with a way back', async ({ page }) => {
  const response = await page.goto('/no/such/page');
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
  await hydrated(page);
  await page.getByRole('link', { name: 'Go to the instances' }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId('instances')).toBeVisible();
});
