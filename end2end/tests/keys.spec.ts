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
  await page.goto('/audit?action=keys.rotated');
  await expect(page.getByTestId('audit-row')).toHaveCount(1);
});
