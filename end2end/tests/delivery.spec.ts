import { test, expect, hydrated, signIn, registerInUi, claims } from './fixtures';

const mailApi = () => `http://127.0.0.1:${process.env.TUS_E2E_MAIL_WEB_PORT}/api/email`;

test('a new password sent from the user page arrives by e-mail and logs in', async ({ page, request }) => {
  await signIn(page);
  const email = `driver-${Math.random().toString(36).slice(2, 10)}@example.com`;
  const user = await registerInUi(page, { 'First name': 'Mia', 'Last name': 'Mail', 'E-mail': email });
  await page.goto(`/users/${user.deviceToken}`);
  await hydrated(page);
  const section = page.getByTestId('deliveries');
  await expect(section.getByText('No messages yet.')).toBeVisible();
  // SMS is not configured on this server: its button says so and cannot be pressed.
  await expect(section.getByRole('button', { name: '… by SMS' })).toBeDisabled();
  await section.getByRole('button', { name: 'Send a new password by e-mail' }).click();
  await expect(page.getByTestId('notice')).toContainText('A new password is on its way');
  await expect(section.getByTestId('delivery-row')).toHaveCount(1);

  // It arrives at the real SMTP server.
  let text = '';
  await expect(async () => {
    const mails = await (await request.get(mailApi())).json();
    const mine = mails.find((m: any) => m.to.some((t: any) => t.address === email));
    expect(mine).toBeTruthy();
    text = mine.text;
  }).toPass({ timeout: 20_000 });
  const password = text.split('is: ')[1].split(/\s/)[0];
  // Shown nowhere on the page.
  await expect(page.locator('body')).not.toContainText(password);

  const instanceId = claims(user.accessToken)['InstanceId'] as string;
  const login = await request.post('/v1/Auth/Login', {
    headers: { InstanceId: instanceId },
    data: { LoginFields: { Email: email }, Password: password },
  });
  expect(login.status()).toBe(200);

  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId('deliveries').getByTestId('delivery-state')).toHaveText('sent');
  await page.screenshot({ path: 'test-results/user-page-deliveries.png', fullPage: true });
});

/** The newest e-mail to `to` at the real SMTP server (waits for it). */
async function mailTo(request: any, to: string): Promise<any> {
  let found: any;
  await expect(async () => {
    const mails = await (await request.get(mailApi())).json();
    found = mails.filter((m: any) => m.to.some((t: any) => t.address === to)).pop();
    expect(found).toBeTruthy();
  }).toPass({ timeout: 20_000 });
  return found;
}

test('an e-mail invite opens a public page that sets a password without JavaScript, once', async ({ page, request, browser }) => {
  await signIn(page);
  const email = `invitee-${Math.random().toString(36).slice(2, 10)}@example.com`;
  const user = await registerInUi(page, { 'First name': 'Ivy', 'Last name': 'Invite', 'E-mail': email });
  await page.goto(`/users/${user.deviceToken}`);
  await hydrated(page);
  const section = page.getByTestId('deliveries');
  await section.getByRole('button', { name: 'Invite by e-mail' }).click();
  await expect(page.getByTestId('notice')).toContainText('An invite is on its way');
  const mail = await mailTo(request, email);
  const link = (mail.text as string).match(/http\S+\/invite\?t=[A-Za-z0-9_-]+/)![0];

  // The driver: no admin session, no JavaScript.
  const driver = await browser.newContext({ javaScriptEnabled: false });
  const p = await driver.newPage();
  await p.goto(link);
  await expect(p.getByTestId('invite-for')).toContainText('i••@example.com');
  await expect(p.getByRole('link', { name: 'Users' })).toHaveCount(0);
  await p.getByLabel('New password').fill('ivy password 1234');
  await p.getByLabel('The same again').fill('ivy password 123');
  await p.getByRole('button', { name: 'Set my password' }).click();
  await expect(p.getByTestId('invite-error')).toHaveText(/The two passwords differ/);
  await p.getByLabel('New password').fill('ivy password 1234');
  await p.getByLabel('The same again').fill('ivy password 1234');
  await p.screenshot({ path: 'test-results/invite-page.png', fullPage: true });
  await p.getByRole('button', { name: 'Set my password' }).click();
  await expect(p.getByTestId('invite-done')).toBeVisible();
  await p.screenshot({ path: 'test-results/invite-done.png', fullPage: true });

  const instanceId = claims(user.accessToken)['InstanceId'] as string;
  const login = await request.post('/v1/Auth/Login', {
    headers: { InstanceId: instanceId },
    data: { LoginFields: { Email: email }, Password: 'ivy password 1234' },
  });
  expect(login.status()).toBe(200);

  // The link works once.
  await p.goto(link);
  await expect(p.getByTestId('invite-invalid')).toBeVisible();
  await driver.close();
});

test('the deliveries page shows the channels, sends a test message and filters the outbox', async ({ page, request, consoleErrors }) => {
  consoleErrors.allow(/\/api\/send_test_message$/);
  await signIn(page);
  await page.goto('/deliveries');
  await hydrated(page);
  await expect(page.getByTestId('channel-email')).toContainText('configured');
  await expect(page.getByTestId('channel-sms')).toContainText('not configured (TUS_SMS_URL)');
  const to = `ops-${Math.random().toString(36).slice(2, 10)}@example.com`;
  await page.getByLabel('To', { exact: true }).fill(to);
  await page.getByRole('button', { name: 'Send test' }).click();
  await expect(page.getByTestId('notice')).toContainText('A test message to o••@example.com is queued');
  await mailTo(request, to);
  const row = page.getByTestId('delivery-row').filter({ hasText: 'o••@example.com' }).first();
  await expect(row).toContainText('test by email');
  // An SMS test on a server without SMS: said at once, nothing queued.
  await page.getByLabel('Send a test message by').selectOption('Sms');
  await page.getByLabel('To', { exact: true }).fill('+15550100000');
  await page.getByRole('button', { name: 'Send test' }).click();
  await expect(page.getByTestId('channels').getByRole('alert')).toContainText('TUS_SMS_URL');

  await page.getByLabel('State').selectOption('sent');
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page).toHaveURL(/state=sent/);
  await expect(page.getByTestId('delivery-row').filter({ hasText: 'o••@example.com' }).first().getByTestId('delivery-state')).toHaveText(/sent/);
  await page.getByLabel('State').selectOption('failed');
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page.getByTestId('deliveries-empty')).toBeVisible();
  await page.goto('/deliveries');
  await page.screenshot({ path: 'test-results/deliveries-page.png', fullPage: true });
});

test('a bulk invite by e-mail names the exact count first, and invites exactly those users', async ({ page, request }) => {
  await signIn(page);
  const last = `Inv${Math.random().toString(36).slice(2, 8)}`;
  const emails = [1, 2].map((n) => `bulk${n}-${last.toLowerCase()}@example.com`);
  await registerInUi(page, { 'First name': 'Ada', 'Last name': last, 'E-mail': emails[0] });
  await registerInUi(page, { 'First name': 'Bo', 'Last name': last, 'E-mail': emails[1] });
  await registerInUi(page, { 'First name': 'Cy', 'Last name': last });
  await page.goto(`/?q=${last.toLowerCase()}`);
  await hydrated(page);
  await expect(page.getByTestId('user-row')).toHaveCount(3);
  await page.getByTestId('bulk-everything').check();
  await page.getByLabel('Action', { exact: true }).selectOption({ label: 'Invite by e-mail (a link to set a password)' });
  await page.getByRole('button', { name: 'Apply…' }).click();
  await expect(page.getByTestId('bulk-confirm')).toHaveText(
    'Invite 2 users by e-mail? 1 of the 3 selected have no e-mail address or are deactivated, and get nothing.',
  );
  await page.getByRole('button', { name: 'Confirm' }).click();
  await expect(page.getByTestId('bulk-notice')).toContainText('Invited 2 users');
  for (const e of emails) expect((await mailTo(request, e)).text).toContain('/invite?t=');
});

test('registering a user with "send a generated password" e-mails one that logs in', async ({ page, request }) => {
  await signIn(page);
  const email = `gen-${Math.random().toString(36).slice(2, 10)}@example.com`;
  await page.goto('/register');
  await hydrated(page);
  await page.getByLabel('E-mail', { exact: true }).fill(email);
  await page.getByLabel('Or send a generated password').selectOption('Email');
  await page.getByRole('button', { name: 'Register', exact: true }).click();
  const done = page.getByTestId('registered');
  await expect(done).toBeVisible();
  const accessToken = (await done.getByTestId('new-access-token').textContent())!.trim();
  const text: string = (await mailTo(request, email)).text;
  const password = text.split('is: ')[1].split(/\s/)[0];
  await expect(page.locator('body')).not.toContainText(password);
  const login = await request.post('/v1/Auth/Login', {
    headers: { InstanceId: claims(accessToken)['InstanceId'] as string },
    data: { LoginFields: { Email: email }, Password: password },
  });
  expect(login.status()).toBe(200);
});
