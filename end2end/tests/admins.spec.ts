import * as crypto from 'node:crypto';
import { Browser, Page, APIRequestContext } from '@playwright/test';
import { test, expect, hydrated, signIn, ADMIN_EMAIL, ADMIN_PASSWORD } from './fixtures';

const mailApi = () => `http://127.0.0.1:${process.env.TUS_E2E_MAIL_WEB_PORT}/api/email`;

/** RFC 4648 base32, as authenticator apps read secrets. */
function base32Decode(text: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const c of text.replace(/=+$/, '')) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The six digits an authenticator app shows for `secret`, `offset` steps from now. */
function totp(secret: string, offset = 0): string {
  const step = Math.floor(Date.now() / 1000 / 30) + offset;
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const h = crypto.createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const o = h[19] & 15;
  const v = ((h[o] & 127) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(v % 1_000_000).padStart(6, '0');
}

async function mailTo(request: APIRequestContext, to: string): Promise<any> {
  let found: any;
  await expect(async () => {
    const mails = await (await request.get(mailApi())).json();
    found = mails.filter((m: any) => m.to.some((t: any) => t.address === to)).pop();
    expect(found).toBeTruthy();
  }).toPass({ timeout: 20_000 });
  return found;
}

/** The dashboard's own API as the Owner (bearer token). */
async function ownerApi(request: APIRequestContext) {
  const login = await request.post('/v1/Auth/Login', {
    data: { LoginFields: { Email: ADMIN_EMAIL }, Password: ADMIN_PASSWORD },
  });
  const token = (await login.json()).Result.AccessToken.Token as string;
  return async (name: string, args: unknown) => {
    const r = await request.post(`/api/${name}`, { headers: { Authorization: `Bearer ${token}` }, data: args });
    expect(r.status(), `${name}: ${await r.text()}`).toBe(200);
    return r.json();
  };
}

/** Registers a driver with this last name into an instance; answers its DeviceToken. */
async function driverIn(request: APIRequestContext, api: any, instanceId: string, lastName: string) {
  const key = await api('reveal_instance_key', { instance_id: instanceId });
  const r = await request.post('/v1/Registration/Create', {
    headers: { InstanceId: instanceId, InstanceKey: key },
    data: { LastName: lastName },
  });
  expect(r.status()).toBe(200);
  return (await r.json()).Result.DeviceToken as string;
}

/** Signs in as someone, answering the code step when it comes. */
async function signInAs(page: Page, email: string, password: string, code?: string) {
  await page.goto('/sign-in');
  await hydrated(page);
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  if (code !== undefined) {
    const field = page.getByLabel('Code from your authenticator app');
    await expect(field).toBeVisible();
    await field.fill(code);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }
}

async function signOut(page: Page) {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/sign-in/);
}

test('an Owner invites an Operator who joins, sets up TOTP and works only in their instance', async ({ page, request, browser, consoleErrors }) => {
  test.setTimeout(120_000);
  consoleErrors.allow(/\/api\/(sign_in|admins|totp_policy|current_admin|session_menu)$/);
  const api = await ownerApi(request);
  const common = (await api('instance_choices', {})).find((c: any) => c.name === 'Common');
  const apps = await api('list_applications', {});
  const otherId: string = await api('create_instance', { application_id: apps[0][0], name: `Other ${Date.now()}`, description: '' });
  const suffix = Math.random().toString(36).slice(2, 8);
  const mine = `Mine${suffix}`;
  const theirs = `Theirs${suffix}`;
  const myDriver = await driverIn(request, api, common.id, mine);
  await driverIn(request, api, otherId, theirs);

  // The Owner invites an Operator of the instance Common.
  await signIn(page, '/admins');
  await page.goto('/admins');
  await hydrated(page);
  const email = `ops-${suffix}@team.example`;
  const card = page.locator('section', { has: page.getByRole('heading', { name: 'Invite an admin' }) });
  await card.getByLabel('E-mail').fill(email);
  await card.getByLabel('Role').selectOption('Operator');
  await card.getByLabel('Some instances').check();
  await card.getByLabel('Common').check();
  await card.getByRole('button', { name: 'Send invite' }).click();
  await expect(page.getByTestId('notice')).toContainText(`Invited ${email}`);
  const row = page.locator(`[data-testid="admin-row"][data-email="${email}"]`);
  await expect(row.getByTestId('admin-state')).toHaveText('invited');
  await expect(row.getByTestId('admin-scope')).toContainText('Common');
  await page.screenshot({ path: 'test-results/admins-page.png', fullPage: true });

  // The e-mail arrives; the link sets a password.
  const mail = await mailTo(request, email);
  const link = (mail.text as string).match(/http\S+\/join\?t=[A-Za-z0-9_-]+/)![0];
  const ops = await browser.newContext();
  const p = await ops.newPage();
  await p.goto(link);
  await hydrated(p);
  await expect(p.getByTestId('join-for')).toContainText('@team.example');
  await p.getByLabel('New password').fill('operator password 1');
  await p.getByLabel('The same again').fill('operator password 1');
  await p.getByRole('button', { name: 'Set my password' }).click();
  await expect(p.getByTestId('join-done')).toBeVisible();

  // Their role must sign in with a code, so until they set it up the menu offers only that.
  // They sign in and set up TOTP on their account page.
  await api('set_totp_policy', { roles: ['Operator'] });
  const nav = p.getByRole('navigation', { name: 'Main' });
  let secret: string;
  let codes: string[] = [];
  try {
    await p.goto('/sign-in?next=/account');
    await hydrated(p);
    await p.getByLabel('E-mail').fill(email);
    await p.getByLabel('Password').fill('operator password 1');
    await p.getByRole('button', { name: 'Sign in' }).click();
    await expect(p).toHaveURL(/\/account$/);
    await expect(p.getByTestId('signed-in-role')).toHaveText('Operator');
    await expect(p.getByTestId('enrol-totp')).toBeVisible();
    await expect(p.getByTestId('totp-required')).toBeVisible();
    await expect(nav.getByRole('link', { name: 'Users' })).toHaveCount(0);
    await hydrated(p);
    await p.getByRole('button', { name: 'Set up TOTP' }).click();
    await expect(p.getByTestId('totp-qr')).toBeVisible();
    secret = (await p.getByTestId('totp-secret').textContent())!.trim();
    await p.getByLabel('The code your app shows').fill(totp(secret));
    await p.getByRole('button', { name: 'Turn on' }).click();
    await expect(p.getByTestId('recovery-codes').locator('li')).toHaveCount(10);
    // The demand is met: the card stops asking at once, without a reload.
    await expect(p.getByTestId('totp-required')).toHaveCount(0);
    await expect(p.getByTestId('totp-on')).toBeVisible();
    // And the header's menu too, on this page: it offers their pages, the codes stay shown.
    await expect(p).toHaveURL(/\/account\?totp=on$/);
    await expect(p.getByTestId('enrol-totp')).toHaveCount(0);
    await expect(nav.getByRole('link', { name: 'Users' })).toBeVisible();
    await expect(p.getByTestId('recovery-codes').locator('li')).toHaveCount(10);
    // Read while the account page shows them: they are not shown again.
    codes = (await p.getByTestId('recovery-codes').locator('li').allTextContents()).map((c) => c.trim());
    await p.screenshot({ path: 'test-results/account-totp.png', fullPage: true });
    await nav.getByRole('link', { name: 'Telematics User Service' }).click();
    await expect(p).toHaveURL(/\/$/);
    await expect(nav.getByRole('link', { name: 'Users' })).toBeVisible();
    await expect(p.getByTestId('enrol-totp')).toHaveCount(0);
  } finally {
    await api('set_totp_policy', { roles: [] });
  }
  expect(codes).toHaveLength(10);

  // Signing in now takes a code after the password (the next step's: the last one is used).
  await signOut(p);
  await signInAs(p, email, 'operator password 1', totp(secret, 1));
  await expect(p.getByTestId('signed-in-as')).toHaveText(email);

  // No Admins page, no keys, only their own instance's drivers.
  await expect(p.getByRole('link', { name: 'Admins' })).toHaveCount(0);
  await expect(p.getByRole('link', { name: 'API keys' })).toHaveCount(0);
  await p.goto('/admins');
  await hydrated(p);
  await expect(p.getByText(/may not manage admins/)).toBeVisible();
  await p.goto('/instances');
  await hydrated(p);
  await expect(p.getByRole('button', { name: 'Reveal key' })).toHaveCount(0);
  await expect(p.getByTestId('key-not-for-role')).toHaveCount(1);
  await p.goto(`/?q=${mine}`);
  await hydrated(p);
  await expect(p.getByText(mine)).toBeVisible();
  await p.goto(`/?q=${theirs}`);
  await hydrated(p);
  await expect(p.getByText(theirs)).toHaveCount(0);

  // Their overview counts their instance only, and says so.
  await p.goto('/overview');
  await hydrated(p);
  await expect(p.getByTestId('scoped-note')).toBeVisible();
  await expect(p.getByTestId('chart-refreshes')).toHaveCount(0);

  // A flag of their driver switches.
  await p.goto(`/users/${myDriver}`);
  await hydrated(p);
  await expect(p.getByRole('button', { name: 'Delete…' })).toHaveCount(0);
  const sw = p.getByTestId('switch-logging');
  const saved = p.waitForResponse((r) => r.url().endsWith('/api/set_flag') && r.status() === 200);
  await sw.click();
  await saved;
  await expect(sw).toHaveAttribute('aria-checked', 'true');

  // A recovery code signs in once.
  await signOut(p);
  await signInAs(p, email, 'operator password 1', codes[0]);
  await expect(p.getByTestId('signed-in-as')).toHaveText(email);
  await signOut(p);
  await signInAs(p, email, 'operator password 1', codes[0]);
  await expect(p.getByTestId('sign-in-error')).toContainText('wrong or was used already');
  await signInAs(p, email, 'operator password 1', codes[1]);
  await expect(p.getByTestId('signed-in-as')).toHaveText(email);

  // Disabled by the Owner, their open dashboard is signed out on its next request.
  await page.reload();
  await hydrated(page);
  await row.getByText('Manage').click();
  await row.getByRole('button', { name: 'Disable' }).click();
  await expect(row.getByTestId('admin-state')).toHaveText('disabled');
  await p.goto('/');
  await expect(p).toHaveURL(/\/sign-in/);
  await ops.close();
});
