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

test('pages run under a strict Content-Security-Policy that refuses injected inline code', async ({ page, consoleErrors }) => {
  await signIn(page, '/instances');
  const response = await page.goto('/instances');
  const csp = response!.headers()['content-security-policy'];
  expect(csp).toContain("script-src 'self' 'nonce-");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).not.toContain('unsafe-inline');
  // Leptos' own inline scripts carry the response's nonce: the page still hydrates.
  await hydrated(page);

  // A script an attacker managed to inject into the page is refused, and reported.
  consoleErrors.allowMessage(/Content Security Policy/);
  const violation = page.evaluate(
    () =>
      new Promise<string>((resolve) =>
        document.addEventListener('securitypolicyviolation', (e) => resolve(e.effectiveDirective), { once: true }),
      ),
  );
  await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = 'window.injected = true';
    document.body.appendChild(s);
  });
  expect(await violation).toBe('script-src-elem');
  expect(await page.evaluate(() => (window as unknown as { injected?: boolean }).injected)).toBeUndefined();
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

test('a new instance registers users with its revealed key, and a rotated key refuses the old one', async ({ page, request }) => {
  await signIn(page, '/instances');
  await page.goto('/instances');
  await hydrated(page);
  const name = `Fleet ${Math.random().toString(36).slice(2, 8)}`;
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Description', { exact: true }).fill('Made by the e2e test');
  await page.getByRole('button', { name: 'Create instance' }).click();
  await expect(page.getByTestId('instance-row').filter({ hasText: name })).toHaveCount(1);
  const id = (await page.getByTestId('instance-row').filter({ hasText: name }).getByTestId('instance-id').textContent())!.trim();
  const row = page.locator(`[data-instance-id="${id}"]`);

  // The key is behind a confirmation.
  await row.getByRole('button', { name: 'Reveal key' }).click();
  await expect(row.getByRole('alertdialog')).toContainText('Anyone holding it can register users');
  await row.getByRole('button', { name: 'Show key' }).click();
  const key = (await row.getByTestId('instance-key').textContent())!.trim();
  const register = (k: string) =>
    request.post('/v1/Registration/Create', { headers: { InstanceId: id, InstanceKey: k }, data: { FirstName: 'Via', LastName: 'Rest' } });
  expect((await register(key)).status()).toBe(200);
  await page.screenshot({ path: 'test-results/instances-key.png', fullPage: true });

  await row.getByRole('button', { name: 'Hide' }).click();
  await row.getByRole('button', { name: 'Rotate key' }).click();
  await row.getByRole('alertdialog').getByRole('button', { name: 'Rotate key' }).click();
  await expect(row.getByText('New key. The old one no longer works.')).toBeVisible();
  const rotated = (await row.getByTestId('instance-key').textContent())!.trim();
  expect(rotated).not.toBe(key);
  expect((await register(key)).status()).toBe(401);
  expect((await register(rotated)).status()).toBe(200);

  // A new invite code replaces the old one; renaming and deactivating show at once.
  const code = (await row.getByTestId('invite-code').textContent())!.trim();
  await row.getByRole('button', { name: 'New code' }).click();
  await expect(row.getByTestId('invite-code')).not.toHaveText(code);
  await row.getByRole('button', { name: 'Rename' }).click();
  await row.getByLabel('Name', { exact: true }).fill(`${name} renamed`);
  await row.getByRole('button', { name: 'Save' }).click();
  await expect(row.getByTestId('instance-name')).toHaveText(`${name} renamed`);
  await expect(row.getByTestId('instance-users')).toHaveText('2'); // registered over REST
  await row.getByTestId('instance-status-button').click();
  await expect(row).toContainText('Deactivated');
  expect((await register(rotated)).status()).toBe(403);
});
