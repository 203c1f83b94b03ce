import { test, expect, hydrated, signIn } from './fixtures';

test('the instances page renders on the server, hydrates and reloads through a server function', async ({ page }) => {
  await signIn(page, '/instances');
  const response = await page.goto('/instances');
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
  await expect(page.getByTestId('instances-footer')).toHaveText(/^\d+ instances? · reloaded 1×$/);
  await expect(table.getByRole('row', { name: /Common/ })).toBeVisible();

  await page.screenshot({ path: 'test-results/instances.png', fullPage: true });
});

test('the instances list shows no instance key', async ({ page, baseURL }) => {
  await signIn(page, '/instances');
  const answer = await page.request.post('/api/list_instances', {
    headers: { Origin: baseURL!, 'Content-Type': 'application/json' },
    data: {},
  });
  expect(answer.status()).toBe(200);
  const list = await answer.json();
  expect(list[0].name).toBe('Common');
  expect(JSON.stringify(list)).not.toMatch(/key/i);
});

test('an unknown page answers 404 with a way back', async ({ page }) => {
  await signIn(page);
  const response = await page.goto('/no/such/page');
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
  await hydrated(page);
  await page.getByRole('link', { name: 'Go to the users' }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId('users-total').or(page.getByTestId('users-empty'))).toBeVisible();
});
