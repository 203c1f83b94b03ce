import * as fs from 'node:fs';
import { test, expect, hydrated, signIn } from './fixtures';

const HEADER = 'DeviceToken,AccessToken,AccessTokenExpiresAt,RefreshToken,RefreshTokenExpiresAt';

test('a batch of 500 shows its progress, completes, and offers its credentials once', async ({ page, request }) => {
  test.setTimeout(120_000);
  await signIn(page, '/batches');
  await page.goto('/batches');
  await hydrated(page);
  const label = `Depot ${Math.random().toString(36).slice(2, 8)}`;
  await page.getByLabel('Quantity').fill('500');
  await page.getByLabel('Label').fill(label);
  await page.getByRole('button', { name: 'Start batch' }).click();
  await expect(page).toHaveURL(/\/batches\/[0-9a-f-]{36}$/);
  await expect(page.getByRole('heading', { name: label })).toBeVisible();

  // The bar is the server's count of users written, polled while the batch runs.
  const bar = page.getByRole('progressbar', { name: 'Users created' });
  await expect(bar).toHaveAttribute('aria-valuemax', '500');
  const seen: number[] = [];
  await expect
    .poll(async () => {
      const v = Number(await bar.getAttribute('aria-valuenow'));
      seen.push(v);
      return v;
    }, { timeout: 90_000, intervals: [100] })
    .toBe(500);
  expect(seen, 'progress never goes back').toEqual([...seen].sort((a, b) => a - b));
  await expect(page.getByTestId('batch-state')).toHaveText('Completed');
  await expect(page.getByTestId('batch-status')).toHaveText('Completed: 500 users.');
  await expect(page.getByTestId('batch-user')).toHaveCount(50);
  await expect(page.getByTestId('batch-users-now')).toHaveText('(500 of 500 remain)');
  await page.screenshot({ path: 'test-results/batch-completed.png', fullPage: true });

  const download = page.waitForEvent('download');
  await page.getByTestId('download-credentials').click();
  const file = await download;
  expect(file.suggestedFilename()).toMatch(/^batch-Depot_[a-z0-9]+-[0-9a-f]{8}-credentials\.csv$/);
  const lines = fs.readFileSync((await file.path())!, 'utf8').trim().split('\n');
  expect(lines[0]).toBe(HEADER);
  const rows = lines.slice(1).map((l) => l.split(','));
  expect(rows).toHaveLength(500);
  expect(new Set(rows.map((r) => r[0])).size).toBe(500);
  await expect(page.getByTestId('credentials-taken-now')).toBeVisible();

  // Every access token is accepted by the service as its user; every refresh token rotates.
  for (const [device, access, , refresh] of rows) {
    const me = await request.get('/v1/Management/users', { headers: { Authorization: `Bearer ${access}` } });
    expect(me.status(), device).toBe(200);
    expect((await me.json()).Result.DeviceToken).toBe(device);
    const refreshed = await request.post('/v1/Auth/RefreshToken', { data: { AccessToken: access, RefreshToken: refresh } });
    expect(refreshed.status(), device).toBe(200);
  }

  // After a reload the page says who downloaded them, and holds no secret.
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId('credentials-taken')).toContainText('Downloaded by admin:admin@localhost');
  await expect(page.getByTestId('download-credentials')).toHaveCount(0);
  const html = await page.content();
  expect(html).not.toContain('eyJ');
  for (const [, access, , refresh] of rows) {
    expect(html.includes(access) || html.includes(refresh)).toBe(false);
  }
  // A second download is refused.
  const again = await page.request.post(`${new URL(page.url()).pathname.replace('/batches/', '/export/batches/')}/credentials.csv`, {
    headers: { Origin: new URL(page.url()).origin },
  });
  expect(again.status()).toBe(409);
  await page.screenshot({ path: 'test-results/batch-downloaded.png', fullPage: true });
});

test('batch-wide actions reach every user of the batch and nobody else', async ({ page }) => {
  await signIn(page, '/batches');
  await page.goto('/batches');
  await hydrated(page);
  await page.getByLabel('Quantity').fill('30');
  await page.getByLabel('Label').fill('Wide actions');
  await page.getByLabel('Issue access and refresh tokens').uncheck();
  await page.getByRole('button', { name: 'Start batch' }).click();
  await expect(page.getByTestId('batch-state')).toHaveText('Completed');
  await expect(page.getByTestId('credentials')).toContainText('created without tokens');

  const bar = page.getByRole('form', { name: 'Bulk actions' });
  await expect(bar).toContainText('every user of this batch');
  await bar.getByLabel('Action').selectOption({ label: 'Tracking off' });
  await bar.getByRole('button', { name: 'Apply…' }).click();
  await expect(page.getByTestId('bulk-confirm')).toHaveText('Switch Tracking off for 30 users?');
  await bar.getByRole('button', { name: 'Confirm' }).click();
  await expect(page.getByTestId('bulk-notice')).toHaveText(/30 users matched, 30 changed/);
  await expect(page.getByTestId('batch-user').first()).toContainText('Off');

  await bar.getByLabel('Action').selectOption({ label: 'Deactivate' });
  await bar.getByRole('button', { name: 'Apply…' }).click();
  await bar.getByRole('button', { name: 'Confirm' }).click();
  await expect(page.getByTestId('batch-user').first()).toContainText('Deactivated');

  // The users list filtered to this batch shows the same 30, deactivated.
  await page.getByRole('link', { name: 'Open in the users list' }).click();
  await expect(page.getByTestId('batch-filter')).toBeVisible();
  await expect(page.getByTestId('users-total')).toContainText('30');
  await page.goBack();

  await bar.getByLabel('Action').selectOption({ label: 'Delete users and their tokens' });
  await bar.getByRole('button', { name: 'Apply…' }).click();
  await expect(page.getByTestId('bulk-confirm')).toContainText('for 30 users?');
  await bar.getByRole('button', { name: 'Confirm' }).click();
  await expect(page.getByTestId('batch-users-now')).toHaveText('(0 of 30 remain)');
  await page.goto('/audit?action=users.bulk_deleted');
  await expect(page.getByRole('cell', { name: /30 matched, 30 changed/ }).first()).toBeVisible();
});
