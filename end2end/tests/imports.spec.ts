import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { test, expect, hydrated, signIn } from './fixtures';

test('a fleet moves in: an instance keeps its id and key, a file is checked, imported, and its drivers log in', async ({ page, request }) => {
  test.setTimeout(180_000);
  await signIn(page, '/instances');
  await page.goto('/instances');
  await hydrated(page);

  // The instance keeps the InstanceId and InstanceKey its apps already hold.
  const [instanceId, instanceKey] = [crypto.randomUUID(), crypto.randomUUID()];
  const name = `Moved ${instanceId.slice(0, 6)}`;
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByTestId('keep-identity').locator('summary').click();
  await page.getByLabel('InstanceId').fill(instanceId);
  await page.getByLabel('InstanceKey').fill(instanceKey);
  await page.getByRole('button', { name: 'Create instance' }).click();
  await expect(page.getByTestId('instances').getByRole('row', { name: new RegExp(name) })).toContainText(instanceId);

  // 3,000 drivers, two of them wrong.
  const tokens: string[] = [];
  let csv = 'DeviceToken,FirstName,LastName,Email,EnableLogging\r\n';
  for (let n = 0; n < 3000; n++) {
    const token = crypto.randomUUID();
    tokens.push(token);
    const email = n === 1500 ? 'not-an-email' : `driver${n}@fleet.example`;
    const logging = n === 2999 ? 'sometimes' : String(n % 2 === 0);
    csv += `${token},"Driver, ${n}",Smith,${email},${logging}\r\n`;
  }

  await page.goto('/import');
  await hydrated(page);
  await page.getByLabel('Into instance').selectOption({ label: name });
  await page.getByLabel('File', { exact: true }).setInputFiles({ name: 'fleet.csv', mimeType: 'text/csv', buffer: Buffer.from('\ufeff' + csv) });
  await expect(page.getByLabel('Check every row first')).toBeChecked();
  await page.getByRole('button', { name: 'Upload and check' }).click();
  await expect(page).toHaveURL(/\/import\/[0-9a-f-]{36}$/);

  // The run's progress, polled from the server until every row is checked.
  const bar = page.getByRole('progressbar', { name: 'Rows handled' });
  await expect(bar).toHaveAttribute('aria-valuemax', '3000');
  await expect(bar).toHaveAttribute('aria-valuenow', '3000', { timeout: 90_000 });
  await expect(page.getByTestId('import-state')).toHaveText('Checked');
  await expect(page.getByTestId('count-created')).toHaveText('2,998');
  await expect(page.getByTestId('count-errors')).toHaveText('2');
  // The rows not taken are on the page too, with their field and reason.
  await expect(page.getByTestId('import-error')).toHaveCount(2);
  await expect(page.getByTestId('import-error').first()).toContainText('1502');
  await expect(page.getByTestId('import-error').first()).toContainText('Email');
  await expect(page.getByTestId('import-error').nth(1)).toContainText('must be true or false');
  await page.screenshot({ path: 'test-results/import-checked.png', fullPage: true });

  // Nothing was written: the first driver cannot log in yet.
  const login = (token: string) =>
    request.post('/v1/Auth/Login', {
      headers: { InstanceId: instanceId },
      data: { LoginFields: { DeviceToken: token }, Password: instanceKey },
    });
  expect((await login(tokens[0])).status()).toBe(401);

  // The report names each row's outcome, the errors with their field and reason.
  const download = page.waitForEvent('download');
  await page.getByTestId('download-report').click();
  const file = await download;
  expect(file.suggestedFilename()).toMatch(/^import-fleet-[0-9a-f]{8}-dry-run\.csv$/);
  const lines = fs.readFileSync((await file.path())!, 'utf8').trim().split('\n');
  expect(lines[0]).toBe('Row,DeviceToken,Result,Field,Reason');
  expect(lines).toHaveLength(3001);
  const errors = lines.filter((l) => l.includes(',error,'));
  expect(errors).toHaveLength(2);
  expect(errors[0]).toMatch(new RegExp(`^1502,${tokens[1500]},error,Email,`));
  expect(errors[1]).toMatch(new RegExp(`^3001,${tokens[2999]},error,EnableLogging,must be true or false`));

  // For real, from the same upload.
  await page.getByTestId('import-for-real').click();
  await expect(page.getByTestId('import-state')).toHaveText('Completed', { timeout: 90_000 });
  await expect(page.getByTestId('count-created')).toHaveText('2,998');
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId('import-status')).toHaveText('Imported: 3,000 rows handled.');
  await page.screenshot({ path: 'test-results/import-done.png', fullPage: true });

  // The apps log in with their DeviceToken and the kept InstanceKey, and refresh.
  const answer = await login(tokens[0]);
  expect(answer.status()).toBe(200);
  const body = (await answer.json()).Result;
  expect(body.DeviceToken).toBe(tokens[0]);
  const refreshed = await request.post('/v1/Auth/RefreshToken', {
    data: { AccessToken: body.AccessToken.Token, RefreshToken: body.RefreshToken },
  });
  expect(refreshed.status()).toBe(200);

  // Its lineage says where its first session here came from.
  await page.goto(`/users/${tokens[0]}`);
  await hydrated(page);
  await expect(page.getByTestId('access-source').first()).toBeVisible();
  await expect(page.getByTestId('family')).toHaveCount(1);
  await expect(page.getByTestId('family')).toContainText('Started by import');
  await expect(page.getByTestId('access-source')).toContainText(['refresh', 'import']);

  // The import is listed, and its users are one click away.
  await page.goto('/import');
  await expect(page.getByTestId('import-row').first()).toContainText('fleet.csv');
  await expect(page.getByTestId('import-row').first()).toContainText(name);
  await page.screenshot({ path: 'test-results/import-list.png', fullPage: true });
});

test('a file that is not CSV gets one clear error on the form', async ({ page, consoleErrors }) => {
  await signIn(page, '/import');
  await page.goto('/import');
  await hydrated(page);
  consoleErrors.allow(/\/export\/imports/);
  await page.getByLabel('File', { exact: true }).setInputFiles({ name: 'photo.png', mimeType: 'image/png', buffer: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0x0d]) });
  await page.getByRole('button', { name: 'Upload and check' }).click();
  await expect(page.getByTestId('error-file')).toContainText('binary data');
  await expect(page).toHaveURL(/\/import$/);
});
