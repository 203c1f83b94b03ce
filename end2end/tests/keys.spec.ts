import { test, expect, hydrated, signIn, registerInUi } from './fixtures';

test('the signing keys page rotates the key behind a confirmation, and sessions keep working', async ({ page, request }) => {
  await signIn(page);
  await page.goto('/keys');
  await hydrated(page);
  const current = page.locator('[data-testid="key-row"][data-state="current"]');
  await expect(current).toHaveCount(1);
  const oldKid = (await current.locator('td').first().textContent())!.trim();
  // HS256 here: the key is the secret, so nothing is published.
  await expect(current).toContainText('HS256');
  const jwks = await (await request.get('/.well-known/jwks.json')).json();
  expect(jwks).toEqual({ keys: [] });

  await page.getByLabel('Lead time (minutes)').fill('0');
  await page.getByRole('button', { name: 'Rotate…' }).click();
  await expect(page.getByTestId('rotate-confirm')).toHaveText('Make a new signing key that signs in 0 minutes?');
  await page.getByRole('button', { name: 'Confirm' }).click();
  await expect(page.getByTestId('notice')).toContainText('is published');
  await expect(current).toHaveCount(1);
  await expect(current.locator('td').first()).not.toHaveText(oldKid);
  const retired = page.locator('[data-testid="key-row"][data-state="retired"]');
  await expect(retired).toHaveCount(1);
  await expect(retired.locator('td').first()).toHaveText(oldKid);
  await page.screenshot({ path: 'test-results/keys-page.png', fullPage: true });

  // The admin's session, signed by the old key, still works; a new registration's token
  // names the new key.
  const user = await registerInUi(page, { 'First name': 'Kim', 'Last name': 'Keys' });
  const header = JSON.parse(Buffer.from(user.accessToken.split('.')[0], 'base64url').toString('utf8'));
  expect(header.kid).not.toBe(oldKid);
  // The new key's live tokens count that registration's.
  await page.goto('/keys');
  await hydrated(page);
  const live = Number((await current.getByTestId('key-live-tokens').textContent())!.trim());
  expect(live).toBeGreaterThanOrEqual(1);
  await page.goto('/audit?action=keys.rotated');
  await expect(page.getByTestId('audit-row')).toHaveCount(1);
});

test('an API key is created in the dashboard, shown once, introspects tokens, and stops when revoked', async ({ page, request }) => {
  await signIn(page);
  const user = await registerInUi(page, { 'First name': 'Ada', 'Last name': 'Api' });
  await page.goto('/api-keys');
  await hydrated(page);
  await page.getByLabel('Name').fill('scoring');
  await page.getByLabel(/tokens:introspect/).check();
  await page.getByRole('button', { name: 'Create key' }).click();
  const secret = (await page.getByTestId('new-api-key-value').textContent())!.trim();
  expect(secret).toMatch(/^tus_/);
  await page.screenshot({ path: 'test-results/api-keys-page.png', fullPage: true });

  const ask = () => request.post('/v1/Auth/Introspect', { headers: { Authorization: `Bearer ${secret}` }, form: { token: user.accessToken } });
  const answer = await ask();
  expect(answer.status()).toBe(200);
  expect((await answer.json()).active).toBe(true);

  // Shown once: not on the page after a reload, nor anywhere in it.
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId('new-api-key')).toHaveCount(0);
  await expect(page.locator('body')).not.toContainText(secret);
  const row = page.getByTestId('api-key-row').filter({ hasText: 'scoring' });
  await expect(row.getByTestId('api-key-state')).toHaveText('live');
  await row.getByRole('button', { name: 'Revoke' }).click();
  await expect(page.getByTestId('notice')).toContainText('revoked');
  await expect(page.getByTestId('api-key-row').filter({ hasText: 'scoring' }).getByTestId('api-key-state')).toHaveText('revoked');
  expect((await ask()).status()).toBe(401);
});

test('an API key limited to one instance reads it without its InstanceKey', async ({ page, request }) => {
  await signIn(page);
  await page.goto('/api-keys');
  await hydrated(page);
  await page.getByLabel('Name').fill('fleet portal');
  await page.getByLabel(/instances:read/).check();
  await page.getByLabel(/Only the instances chosen below/).check();
  const choices = page.getByTestId('key-instance-choices');
  const first = choices.getByRole('checkbox').first();
  await first.check();
  const instanceId = (await first.getAttribute('id'))!.replace('key-instance-', '');
  await page.getByRole('button', { name: 'Create key' }).click();
  const secret = (await page.getByTestId('new-api-key-value').textContent())!.trim();
  const row = page.getByTestId('api-key-row').filter({ hasText: 'fleet portal' });
  await expect(row).toContainText(instanceId);
  await page.screenshot({ path: 'test-results/api-keys-limited.png', fullPage: true });

  const read = await request.get(`/v1/Instances/${instanceId}`, { headers: { Authorization: `Bearer ${secret}` } });
  expect(read.status()).toBe(200);
  const body = await read.json();
  expect(body.Result.Id).toBe(instanceId);
  expect(body.Result.Key).toBeUndefined();
  const rotate = await request.post(`/v1/Instances/${instanceId}/RotateKey`, { headers: { Authorization: `Bearer ${secret}` } });
  expect(rotate.status()).toBe(403);
});
