import { test, expect, hydrated, signIn, registerInUi, claims } from './fixtures';
import type { APIRequestContext } from '@playwright/test';

const unique = () => Math.random().toString(36).slice(2, 10);

/** POST /v1/Auth/RefreshToken with a user's pair and, optionally, its phone. */
async function refresh(
  request: APIRequestContext,
  pair: { accessToken: string; refreshToken: string },
  mobileDevice?: Record<string, unknown>,
) {
  const answer = await request.post('/v1/Auth/RefreshToken', {
    data: { AccessToken: pair.accessToken, RefreshToken: pair.refreshToken, MobileDevice: mobileDevice },
  });
  expect(answer.status()).toBe(200);
  const body = await answer.json();
  return { accessToken: body.Result.AccessToken.Token as string, refreshToken: body.Result.RefreshToken as string };
}

test('a driver\'s activity and phone show on its page and in the list; a flag change is pending until its refresh', async ({ page, request }) => {
  await signIn(page);
  const last = `Active${unique()}`;
  const user = await registerInUi(page, { 'First name': 'Ada', 'Last name': last });
  await page.getByRole('link', { name: 'Open the user' }).click();
  await hydrated(page);
  // Registered only: no data yet, no device.
  await expect(page.getByTestId('activity-status')).toHaveText('No data');
  await expect(page.getByTestId('last-activity')).toHaveText('No login or refresh since registration');

  // The app refreshes and reports its phone.
  const sdk = `4.${Math.floor(Math.random() * 1000)}.1`;
  let pair = await refresh(request, user, { OsType: 'android', SdkVersion: sdk, DeviceModel: 'Pixel 8', AppVersion: '2.3' });
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId('activity-status')).toHaveText('Active');
  await expect(page.getByTestId('last-activity')).toContainText('Last login or refresh');
  const device = page.getByTestId('mobile-device');
  await expect(device).toContainText('Pixel 8');
  await expect(device).toContainText('Android');
  await expect(device).toContainText(sdk);
  await expect(page.getByTestId('flags-pending')).toHaveCount(0);

  // Debug logging on for 1 hour: a countdown, and pending, with when the device last
  // refreshed and when its token ends.
  await page.getByTestId('hold-logging').selectOption('60');
  const saved = page.waitForResponse((r) => r.url().endsWith('/api/set_flag') && r.status() === 200);
  await page.getByTestId('switch-logging').click();
  await saved;
  await expect(page.getByTestId('switch-logging')).toHaveAttribute('aria-checked', 'true');
  await expect(page.getByTestId('ends-logging')).toHaveText(/^Switches off by itself in (59 min|1 h)$/);
  const pending = page.getByTestId('flags-pending');
  await expect(pending).toContainText('Pending: the device learns the new flags at its next refresh');
  await expect(pending).toContainText('last refresh');
  await expect(pending).toContainText('its token expires in');
  await page.screenshot({ path: 'test-results/user-pending.png', fullPage: true });

  // In the list: filtered by activity and SDK version, the row says pending.
  await page.goto(`/?q=${last}&activity=active&sdk_version=${encodeURIComponent(sdk)}`);
  await hydrated(page);
  const row = page.getByTestId('user-row');
  await expect(row).toHaveCount(1);
  await expect(row.getByTestId('activity-status')).toHaveText('Active');
  await expect(row.getByTestId('flags-pending')).toBeVisible();
  await expect(row.getByTestId('user-device')).toContainText(`SDK ${sdk}`);
  await page.screenshot({ path: 'test-results/users-activity.png', fullPage: true });
  await page.goto(`/?q=${last}&activity=nodata`);
  await hydrated(page);
  await expect(page.getByTestId('users-empty')).toBeVisible();

  // The device refreshes: the change is applied (its token says so), nothing is pending.
  pair = await refresh(request, pair);
  const payload = JSON.parse(Buffer.from(pair.accessToken.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
  expect(payload.SdkEnableLogging).toBe('True');
  await page.goto(`/?q=${last}&activity=active`);
  await hydrated(page);
  await expect(page.getByTestId('user-row')).toHaveCount(1);
  await expect(page.getByTestId('user-row').getByTestId('flags-pending')).toHaveCount(0);
  await page.getByRole('link', { name: `Ada ${last}` }).click();
  await hydrated(page);
  await expect(page.getByTestId('activity-status')).toHaveText('Active');
  await expect(page.getByTestId('flags-pending')).toHaveCount(0);
  // The countdown survives a reload (the end is stored).
  await expect(page.getByTestId('ends-logging')).toHaveText(/^Switches off by itself in (58|59) min$/);
});

test('an instance\'s settings are saved (token lifetimes too), and an inactivity rule is counted before it is saved', async ({ page, consoleErrors }) => {
  consoleErrors.allow(/\/api\/save_instance_settings$/);
  await signIn(page);
  await page.goto('/instances');
  await hydrated(page);
  await page.getByTestId('instance-settings-link').first().click();
  await hydrated(page);
  await expect(page.getByLabel('Active window (days)')).toHaveValue('14');
  await page.getByLabel('Active window (days)').fill('21');
  await page.getByLabel('Longest debug logging (minutes)').fill('120');
  await page.getByLabel('users without a login or refresh for (days)').fill('365');
  // The service's lifetimes show as the placeholders and the bounds.
  await expect(page.getByLabel('Access token (minutes)')).toHaveAttribute('placeholder', '120');
  await expect(page.getByText('1 to 168.')).toBeVisible();
  await page.getByLabel('Access token (minutes)').fill('30');
  await page.getByTestId('count-inactive').click();
  await expect(page.getByTestId('inactive-count')).toContainText('a rule of 365 days would act on them');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await expect(page.getByTestId('settings-saved')).toBeVisible();
  await page.screenshot({ path: 'test-results/instance-settings.png', fullPage: true });
  await page.reload();
  await hydrated(page);
  await expect(page.getByLabel('Active window (days)')).toHaveValue('21');
  await expect(page.getByLabel('Longest debug logging (minutes)')).toHaveValue('120');
  await expect(page.getByLabel('Access token (minutes)')).toHaveValue('30');
  // A new driver of this instance gets a 30-minute access token.
  const instanceId = page.url().split('/').at(-2)!;
  await page.goto('/register');
  await hydrated(page);
  await page.getByLabel('Instance', { exact: true }).selectOption(instanceId);
  await page.getByRole('button', { name: 'Register', exact: true }).click();
  const token = (await page.getByTestId('new-access-token').textContent())!.trim();
  const c = claims(token);
  expect(c.InstanceId).toBe(instanceId);
  expect((c.exp as number) - (c.iat as number)).toBe(1800);
  await page.goBack();
  await hydrated(page);
  // Longer than the service's is refused by name.
  await page.getByLabel('Access token (minutes)').fill('121');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await expect(page.getByText('AccessTokenMinutes must be between 1 and 120')).toBeVisible();
  await page.getByLabel('Access token (minutes)').fill('');
  // A bad value is refused by name.
  await page.getByLabel('Active window (days)').fill('0');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await expect(page.getByText('ActiveWindowDays must be between 1 and 365')).toBeVisible();
  // Back to the defaults for the other tests.
  await page.getByLabel('Active window (days)').fill('');
  await page.getByLabel('Longest debug logging (minutes)').fill('');
  await page.getByLabel('users without a login or refresh for (days)').fill('');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await expect(page.getByTestId('settings-saved')).toBeVisible();
});

test('the overview counts drivers by activity and charts active drivers per day', async ({ page }) => {
  await signIn(page);
  await page.goto('/overview');
  await hydrated(page);
  for (const key of ['active', 'lost', 'nodata', 'deactivated']) {
    await expect(page.getByTestId(`activity-${key}`)).toHaveText(/^[0-9,]+$/);
  }
  await expect(page.getByTestId('chart-active-drivers')).toBeVisible();
  await page.getByRole('link', { name: 'No data' }).click();
  await hydrated(page);
  await expect(page.getByLabel('Activity')).toHaveValue('nodata');
});

test('a user\'s data downloads as JSON, and a deletion can erase its traces', async ({ page }) => {
  await signIn(page);
  const last = `Erase${unique()}`;
  const user = await registerInUi(page, { 'First name': 'Erin', 'Last name': last });
  await page.getByRole('link', { name: 'Open the user' }).click();
  await hydrated(page);
  const download = page.waitForEvent('download');
  await page.getByTestId('export-user-data').click();
  const file = await download;
  const data = JSON.parse(require('node:fs').readFileSync(await file.path(), 'utf8'));
  expect(data.User.DeviceToken).toBe(user.deviceToken);
  expect(data.User.UserProfile.LastName).toBe(last);
  expect(JSON.stringify(data)).not.toContain(user.refreshToken);

  await page.getByRole('button', { name: 'Delete…' }).click();
  await page.getByTestId('erase-traces').check();
  await page.getByTestId('confirm-delete').click();
  await expect(page).toHaveURL(/\/$/);
  await page.goto(`/audit?target=${encodeURIComponent(`user:${user.deviceToken}`)}`);
  await hydrated(page);
  await expect(page.getByText(user.deviceToken)).toHaveCount(0);
});
