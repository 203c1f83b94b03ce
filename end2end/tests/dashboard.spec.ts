import { test, expect, hydrated, signIn, registerInUi, claims, ADMIN_EMAIL, ADMIN_PASSWORD } from './fixtures';
import type { APIRequestContext } from '@playwright/test';

const unique = () => Math.random().toString(36).slice(2, 10);

/** POST /v1/Auth/RefreshToken with a user's pair; the HTTP status and the envelope. */
async function refresh(request: APIRequestContext, accessToken: string, refreshToken: string) {
  const answer = await request.post('/v1/Auth/RefreshToken', {
    data: { AccessToken: accessToken, RefreshToken: refreshToken },
  });
  return { status: answer.status(), body: await answer.json() };
}

test('an anonymous visit is sent to the sign-in page and back after signing in', async ({ page }) => {
  const response = await page.goto('/?q=ann&status=all');
  expect(response?.status()).toBe(200);
  await expect(page).toHaveURL(/\/sign-in\?next=\/%3Fq%3Dann%26status%3Dall$/);
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  for (const path of ['/instances', '/register', '/users/6f1c6a8e-0d1f-4c6e-9d7e-0b8f6f1d2a3b']) {
    await page.goto(path);
    await expect(page).toHaveURL(/\/sign-in\?next=/);
  }
  await page.goto('/?q=ann&status=all');
  await hydrated(page);
  await page.getByLabel('E-mail').fill(ADMIN_EMAIL);
  await page.getByLabel('Password').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/\?q=ann&status=all$/);
  await expect(page.getByLabel('Search')).toHaveValue('ann');
});

test('the front end arrives compressed and still hydrates; the page itself does not', async ({ page }) => {
  const wasm = page.waitForResponse((r) => r.url().endsWith('.wasm'));
  const response = await page.goto('/sign-in');
  const module = await wasm;
  // Chromium asks for br and gzip; the WASM comes back in one of them, the HTML in neither
  // (it carries the CSRF nonce, see the BREACH test in server/tests/api/hostile/web.rs).
  expect(['br', 'gzip']).toContain((await module.allHeaders())['content-encoding']);
  expect((await response!.allHeaders())['content-encoding']).toBeUndefined();
  await hydrated(page);
});

test('the sign-in page needs only the shell; each group of pages brings its own WASM chunk when opened', async ({ page }) => {
  const fetched: string[] = [];
  page.on('response', (r) => {
    if (r.url().endsWith('.wasm')) fetched.push(new URL(r.url()).pathname.replace('/pkg/', ''));
  });
  const split = (group: string) => fetched.filter((f) => f.startsWith(`split_${group}_`));
  await page.goto('/sign-in');
  await hydrated(page);
  expect(fetched).toEqual(['tus.wasm']);

  // The register page is in the group of the day-to-day pages: its chunk is fetched, the
  // service group's is not.
  // (Whether the server also names it in a preload link depends on leptos having run the
  // page's view before it writes the head, so that is not asserted.)
  await signIn(page, '/register');
  // On a page loaded whole, the session menu hydrates as the server rendered it: no request
  // for it.
  const sessionRequests: string[] = [];
  page.on('request', (r) => {
    if (['/api/current_admin', '/api/session_menu'].includes(new URL(r.url()).pathname)) sessionRequests.push(r.url());
  });
  await page.goto('/register');
  await hydrated(page);
  await expect(page.getByTestId('signed-in-as')).toHaveText(ADMIN_EMAIL);
  expect(sessionRequests).toEqual([]);
  expect(split('fleet_pages').length).toBeGreaterThan(0);
  expect(split('service_pages')).toHaveLength(0);

  // Opening a page of the other group fetches its chunk, then the page works.
  await page.getByRole('link', { name: 'Instances' }).click();
  await hydrated(page);
  await expect(page).toHaveURL(/\/instances$/);
  await expect(page.getByRole('heading', { name: 'Instances' })).toBeVisible();
  // The menu marks the page the router moved to.
  const menu = page.getByRole('navigation', { name: 'Main' });
  await expect(menu.getByRole('link', { name: 'Instances' })).toHaveAttribute('aria-current', 'page');
  await expect(menu.getByRole('link', { name: 'Register a user' })).not.toHaveAttribute('aria-current', 'page');
  expect(split('service_pages').length).toBeGreaterThan(0);
  expect(split('link_pages')).toHaveLength(0);

  // The pages an e-mailed link opens are a group of their own, fetched only there.
  await page.goto('/join?t=no-such-link');
  await hydrated(page);
  await expect(page.getByTestId('join-invalid')).toBeVisible();
  expect(split('link_pages').length).toBeGreaterThan(0);
});

test('the users page hydrates on its own chunks, then fetches its day-to-day pages so a click on one fetches nothing', async ({ page }) => {
  // The moment the page says it has hydrated, in the page's clock, beside its resource timings.
  await page.addInitScript(() => {
    new MutationObserver((_, observer) => {
      if (document.querySelector('[data-hydrated="true"]')) {
        (window as unknown as { hydratedAt: number }).hydratedAt = performance.now();
        observer.disconnect();
      }
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-hydrated'] });
  });
  const timings = () =>
    page.evaluate(() => ({
      hydratedAt: (window as unknown as { hydratedAt: number }).hydratedAt,
      wasm: performance
        .getEntriesByType('resource')
        .filter((e) => e.name.endsWith('.wasm'))
        .map((e) => ({ file: new URL(e.name).pathname.replace('/pkg/', ''), startedAt: e.startTime })),
    }));
  const fleet = (files: { file: string }[]) => files.filter((w) => w.file.startsWith('split_fleet_pages_'));
  await signIn(page);
  await page.goto('/');
  await hydrated(page);

  // Once idle after hydration, the page fetches the chunks of the pages it links to most, in
  // parallel: wait until they have all come (a resource is listed when it has), the count
  // holding for half a second.
  await expect.poll(async () => fleet((await timings()).wasm).length).toBeGreaterThan(0);
  let listed = -1;
  await expect
    .poll(
      async () => {
        const now = (await timings()).wasm.length;
        const settled = now === listed;
        listed = now;
        return settled;
      },
      { intervals: [500] },
    )
    .toBe(true);
  const { hydratedAt, wasm } = await timings();
  expect(hydratedAt).toBeGreaterThan(0);
  const before = wasm.filter((w) => w.startedAt <= hydratedAt);
  expect(before.map((w) => w.file)).toContain('tus.wasm');
  expect(before.some((w) => w.file.startsWith('split_users_pages_'))).toBe(true);
  expect(fleet(before)).toEqual([]);
  expect(wasm.some((w) => w.file.startsWith('split_service_pages_'))).toBe(false);

  // So the overview opens without fetching any WASM.
  const fetched = wasm.length;
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Overview' }).click();
  await expect(page).toHaveURL(/\/overview$/);
  await expect(page.locator('#activity-title')).toBeVisible();
  expect((await timings()).wasm).toHaveLength(fetched);
});

test('sign-in with a wrong password says so, then the right one gets in', async ({ page, context, consoleErrors }) => {
  consoleErrors.allow(/\/api\/sign_in$/);
  await page.goto('/sign-in');
  await hydrated(page);
  await page.getByLabel('E-mail').fill(ADMIN_EMAIL);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('sign-in-error')).toHaveText(/e-mail or the password is wrong/);
  await expect(page).toHaveURL(/\/sign-in/);
  expect((await context.cookies()).map((c) => c.name)).not.toContain('tus_access');

  await page.getByLabel('Password').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('signed-in-as')).toHaveText(ADMIN_EMAIL);
  await expect(page).toHaveURL(/\/$/);
  // The menu was built in the browser (the router moved on): it was fetched, for this page.
  await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' })).toHaveAttribute('aria-current', 'page');
  const cookies = await context.cookies();
  for (const name of ['tus_access', 'tus_refresh']) {
    const c = cookies.find((c) => c.name === name)!;
    expect(c, name).toBeTruthy();
    expect(c.httpOnly).toBe(true);
    expect(c.sameSite).toBe('Strict');
  }
  await page.screenshot({ path: 'test-results/users.png', fullPage: true });
});

test('a server function called without a session gets 401', async ({ request, baseURL }) => {
  for (const fn of ['list_users', 'list_instances', 'get_user', 'user_tokens', 'revoke_tokens', 'register_user']) {
    const answer = await request.post(`/api/${fn}`, {
      headers: { Origin: baseURL!, 'Content-Type': 'application/json' },
      data: { query: {}, device_token: '6f1c6a8e-0d1f-4c6e-9d7e-0b8f6f1d2a3b', instance_id: '', user: {} },
    });
    expect(answer.status(), fn).toBe(401);
    expect(await answer.json(), fn).toBe('Unauthorized');
  }
});

test('a registered user shows its tokens once, then is found by search', async ({ page }) => {
  await signIn(page);
  const email = `reg.${unique()}@example.com`;
  const user = await registerInUi(page, { 'First name': 'Regina', 'Last name': 'Tester', 'E-mail': email });
  expect(user.refreshToken).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  await expect(page.getByText('They are shown this once')).toBeVisible();
  const shown = JSON.parse((await page.getByTestId('claims').textContent())!);
  expect(shown.sub).toBe(user.deviceToken);
  expect(shown.role).toBe('User');
  expect(claims(user.accessToken)).toEqual(shown);
  await expect(page.getByRole('button', { name: 'Copy the Refresh token' })).toBeVisible();
  await page.screenshot({ path: 'test-results/registered.png', fullPage: true });

  // Never again: not on the user's page, not in its token lineage, not in the list.
  await page.getByRole('link', { name: 'Open the user' }).click();
  await expect(page.getByTestId('tokens').getByTestId('access-source')).toHaveText('admin');
  await expect(page.getByTestId('refresh-state')).toHaveText('active');
  let html = await page.content();
  expect(html).not.toContain(user.refreshToken);
  expect(html).not.toContain(user.accessToken);

  await page.goto('/');
  await hydrated(page);
  await page.getByLabel('Search').fill(email.slice(0, 10));
  await page.getByRole('button', { name: 'Apply', exact: true }).click();
  await expect(page).toHaveURL(new RegExp(`q=${email.slice(0, 10).replace('.', '\\.')}`));
  const row = page.getByTestId('user-row').filter({ hasText: email });
  await expect(row).toHaveCount(1);
  await expect(row).toContainText('Regina Tester');
  await expect(row).toContainText(user.deviceToken);
  html = await page.content();
  expect(html).not.toContain(user.refreshToken);
});

test('each flag switch is saved, survives a reload and reaches the next token', async ({ page, request }) => {
  await signIn(page);
  const user = await registerInUi(page, { 'First name': 'Flo', 'Last name': `Flags${unique()}` });
  await page.getByRole('link', { name: 'Open the user' }).click();
  await hydrated(page);
  // Registered with the API's defaults: tracking on, logging off, SDK on, real time off.
  // Flip every one.
  const expected: Record<string, string> = { tracking: 'false', logging: 'true', sdk: 'false', realtime: 'true' };
  for (const [flag, value] of Object.entries(expected)) {
    const sw = page.getByTestId(`switch-${flag}`);
    await expect(sw).toHaveAttribute('aria-checked', value === 'true' ? 'false' : 'true');
    const saved = page.waitForResponse((r) => r.url().endsWith('/api/set_flag') && r.status() === 200);
    await sw.click();
    await saved;
    await expect(sw).toHaveAttribute('aria-checked', value);
    await expect(sw).toHaveAttribute('aria-busy', 'false');
  }
  await page.reload();
  await hydrated(page);
  for (const [flag, value] of Object.entries(expected)) {
    await expect(page.getByTestId(`switch-${flag}`)).toHaveAttribute('aria-checked', value);
  }
  await page.screenshot({ path: 'test-results/user.png', fullPage: true });

  const renewed = await refresh(request, user.accessToken, user.refreshToken);
  expect(renewed.status).toBe(200);
  const c = claims(renewed.body.Result.AccessToken.Token);
  expect(c.SdkEnableTracking).toBe('False');
  expect(c.SdkEnableLogging).toBe('True');
  expect(c.SdkEnableRealTimeLocation).toBe('True');
});

test('a failed flag change moves the switch back and says why', async ({ page, consoleErrors }) => {
  consoleErrors.allow(/\/api\/set_flag$/);
  await signIn(page);
  await registerInUi(page, { 'First name': 'Gone', 'Last name': `Soon${unique()}` });
  await page.getByRole('link', { name: 'Open the user' }).click();
  await hydrated(page);
  await page.route('**/api/set_flag', (route) => route.fulfill({ status: 500, contentType: 'application/json', body: JSON.stringify({ Internal: 'test' }) }));
  const sw = page.getByTestId('switch-tracking');
  await expect(sw).toHaveAttribute('aria-checked', 'true');
  await sw.click();
  await expect(page.getByRole('alert').filter({ hasText: 'Tracking was not saved' })).toBeVisible();
  await expect(sw).toHaveAttribute('aria-checked', 'true');
});

test('a deactivated user is refused a refresh with 403, and allowed again once active', async ({ page, request }) => {
  await signIn(page);
  const user = await registerInUi(page, { 'First name': 'Dee', 'Last name': `Active${unique()}` });
  await page.getByRole('link', { name: 'Open the user' }).click();
  await hydrated(page);
  await page.getByTestId('status-button').click();
  await expect(page.getByTestId('status-button')).toHaveText('Activate');
  expect((await refresh(request, user.accessToken, user.refreshToken)).status).toBe(403);
  await page.getByTestId('status-button').click();
  await expect(page.getByTestId('status-button')).toHaveText('Deactivate');
  expect((await refresh(request, user.accessToken, user.refreshToken)).status).toBe(200);
});

test('revoking the family refuses the refresh with 401 and shows it revoked', async ({ page, request }) => {
  await signIn(page);
  const user = await registerInUi(page, { 'First name': 'Rev', 'Last name': `Oked${unique()}` });
  await page.getByRole('link', { name: 'Open the user' }).click();
  await hydrated(page);
  await page.getByTestId('revoke-family').click();
  await expect(page.getByTestId('family-revoked')).toContainText('revoked by an admin');
  await expect(page.getByTestId('refresh-state')).toHaveText('revoked');
  const refused = await refresh(request, user.accessToken, user.refreshToken);
  expect(refused.status).toBe(401);
  // The family's access token stops at once too.
  const view = await request.get('/v1/Management/users', { headers: { Authorization: `Bearer ${user.accessToken}` } });
  expect(view.status()).toBe(401);
});

test('a first name holding HTML is shown as text and runs nothing', async ({ page }) => {
  const attack = '<img src=x onerror=alert(1)>';
  let dialogs = 0;
  page.on('dialog', async (d) => {
    dialogs += 1;
    await d.dismiss();
  });
  await signIn(page);
  const last = `Xss${unique()}`;
  const user = await registerInUi(page, { 'First name': attack, 'Last name': last });
  await page.goto('/?q=' + last.toLowerCase());
  await hydrated(page);
  await expect(page.getByTestId('user-row').getByRole('link')).toHaveText(`${attack} ${last}`);
  await page.goto(`/users/${user.deviceToken}`);
  await hydrated(page);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(`${attack} ${last}`);
  await expect(page.getByLabel('First name')).toHaveValue(attack);
  expect(await page.locator('img').count()).toBe(0);
  expect(dialogs).toBe(0);
});

test('sign-out ends the session: its cookie no longer works', async ({ page, context, baseURL }) => {
  await signIn(page);
  const before = (await context.cookies()).find((c) => c.name === 'tus_access')!.value;
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/sign-in/);
  await page.goto('/');
  await expect(page).toHaveURL(/\/sign-in/);
  // The old token is revoked, not just forgotten by the browser.
  const answer = await page.request.post('/api/list_users', {
    headers: { Authorization: `Bearer ${before}`, 'Content-Type': 'application/json', Origin: baseURL! },
    data: { query: {} },
  });
  expect(answer.status()).toBe(401);
});

test('the register form shows the API\'s field errors inline and registers nothing', async ({ page, consoleErrors }) => {
  consoleErrors.allow(/\/api\/register_user$/);
  await signIn(page);
  await page.goto('/register');
  await hydrated(page);
  await page.getByLabel('E-mail', { exact: true }).fill('not-an-email');
  await page.getByLabel('Phone', { exact: true }).fill('12');
  await page.getByRole('button', { name: 'Register', exact: true }).click();
  await expect(page.getByTestId('error')).toHaveText('Please correct the highlighted fields.');
  await expect(page.getByTestId('error-Email')).not.toBeEmpty();
  await expect(page.getByTestId('error-Phone')).not.toBeEmpty();
  await expect(page.getByLabel('E-mail', { exact: true })).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByTestId('registered')).toHaveCount(0);
  await page.screenshot({ path: 'test-results/register-errors.png', fullPage: true });
});

test('a profile edit is saved, and a bad value is refused next to its field', async ({ page, consoleErrors }) => {
  consoleErrors.allow(/\/api\/update_user$/);
  await signIn(page);
  const user = await registerInUi(page, { 'First name': 'Ed', 'Last name': `It${unique()}` });
  await page.goto(`/users/${user.deviceToken}`);
  await hydrated(page);
  await page.getByLabel('City').fill('Riga');
  await page.getByRole('button', { name: 'Save profile' }).click();
  await expect(page.getByTestId('notice')).toHaveText('Profile saved.');
  await page.reload();
  await hydrated(page);
  await expect(page.getByLabel('City')).toHaveValue('Riga');
  await page.getByLabel('Image URL').fill('javascript:alert(1)');
  await page.getByRole('button', { name: 'Save profile' }).click();
  await expect(page.getByTestId('error-ImageUrl')).toHaveText('must be an http(s) URL');
  await page.reload();
  await hydrated(page);
  await expect(page.getByLabel('City')).toHaveValue('Riga');
  await expect(page.getByLabel('Image URL')).toHaveValue('');
});

test('a user is moved to another instance, then deleted behind a confirmation naming it', async ({ page, request, consoleErrors }) => {
  consoleErrors.allow(/\/api\/get_user$/);
  await signIn(page);
  const last = `Del${unique()}`;
  const user = await registerInUi(page, { 'First name': 'Dora', 'Last name': last });
  // A second instance, made over REST with an admin token.
  const login = await request.post('/v1/Auth/Login', { data: { LoginFields: { Email: ADMIN_EMAIL }, Password: ADMIN_PASSWORD } });
  const admin = { Authorization: `Bearer ${(await login.json()).Result.AccessToken.Token}` };
  const view = await (await request.get('/v1/Management/users', { headers: { ...admin, UserDeviceToken: user.deviceToken } })).json();
  const trucks = `Trucks ${unique()}`;
  const made = await request.post(`/v1/applications/${view.Result.AccountInfo.ApplicationId}/instances`, { headers: admin, data: { Name: trucks } });
  expect(made.status()).toBe(200);

  await page.goto(`/users/${user.deviceToken}`);
  await hydrated(page);
  await expect(page.getByTestId('user-instance')).toHaveText('Common');
  await page.getByLabel('Move to instance').selectOption({ label: trucks });
  await page.getByRole('button', { name: 'Move', exact: true }).click();
  await expect(page.getByTestId('notice')).toContainText('Moved');
  await expect(page.getByTestId('user-instance')).toHaveText(trucks);

  await page.getByRole('button', { name: 'Delete…' }).click();
  const dialog = page.getByRole('alertdialog');
  await expect(dialog).toContainText(`Delete Dora ${last}?`);
  await expect(dialog.getByRole('button', { name: 'Cancel' })).toBeFocused();
  await page.keyboard.press('Escape');
  await expect(dialog).toHaveCount(0);
  await page.getByRole('button', { name: 'Delete…' }).click();
  await page.getByTestId('confirm-delete').click();
  await expect(page).toHaveURL(/\/$/);
  const refused = await request.post('/v1/Auth/RefreshToken', { data: { AccessToken: user.accessToken, RefreshToken: user.refreshToken } });
  expect(refused.status()).toBe(401);
  await page.goto(`/users/${user.deviceToken}`);
  await expect(page.getByTestId('error')).toContainText('Not found');
});

test('the audit log filters by action and target, and exports what it shows as CSV', async ({ page }) => {
  await signIn(page);
  const user = await registerInUi(page, { 'First name': 'Audi', 'Last name': `Ted${unique()}` });
  await page.getByRole('link', { name: 'Open the user' }).click();
  await hydrated(page);
  const saved = page.waitForResponse((r) => r.url().endsWith('/api/set_flag') && r.status() === 200);
  await page.getByTestId('switch-logging').click();
  await saved;

  await page.getByRole('link', { name: 'Audit log' }).click();
  await hydrated(page);
  await page.getByLabel('Action').fill('user.updated');
  await page.getByLabel('Target').fill(`user:${user.deviceToken}`);
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page).toHaveURL(/\/audit\?actor=&action=user\.updated&target=user%3A/);
  const rows = page.getByTestId('audit-row');
  await expect(rows).toHaveCount(1);
  await expect(rows).toContainText('EnableLogging: False → True');
  await expect(rows).toContainText('admin:admin@localhost');
  await page.screenshot({ path: 'test-results/audit.png', fullPage: true });

  const download = page.waitForEvent('download');
  await page.getByTestId('audit-export').click();
  const file = await download;
  const fs = await import('node:fs');
  const csv = fs.readFileSync((await file.path())!, 'utf8').trim().split('\n');
  expect(csv[0]).toBe('Id,At,Actor,Action,Target,Detail,ClientAddress');
  expect(csv).toHaveLength(2);
  expect(csv[1]).toContain(`,user.updated,user:${user.deviceToken},`);
});

test('the overview totals users and flags and charts the last 30 days in SVG', async ({ page, request }) => {
  await signIn(page);
  const user = await registerInUi(page, { 'First name': 'Ove', 'Last name': `Rview${unique()}` });
  expect((await refresh(request, user.accessToken, user.refreshToken)).status).toBe(200);
  await page.getByRole('link', { name: 'Overview' }).click();
  await hydrated(page);
  const users = Number((await page.getByTestId('total-users').textContent())!.replace(/,/g, ''));
  expect(users).toBeGreaterThan(0);
  const active = Number((await page.getByTestId('total-active').textContent())!.replace(/,/g, ''));
  const deactivated = Number((await page.getByTestId('total-deactivated').textContent())!.replace(/,/g, ''));
  expect(active + deactivated).toBe(users);
  // Today's bars: the registrations made by this suite, and at least this refresh.
  const today = page.getByTestId('chart-registrations').locator('rect').last();
  expect(Number(await today.getAttribute('data-count'))).toBeGreaterThan(0);
  await expect(page.getByTestId('chart-registrations').locator('rect')).toHaveCount(30);
  const refreshed = page.getByTestId('chart-refreshes').locator('rect').last();
  expect(Number(await refreshed.getAttribute('data-count'))).toBeGreaterThanOrEqual(1);
  await expect(page.getByTestId('chart-refreshes').locator('svg')).toHaveAttribute('aria-label', /refreshes from/);
  await page.screenshot({ path: 'test-results/overview.png', fullPage: true });
});

test('the users CSV export holds exactly the rows the filter shows', async ({ page }) => {
  await signIn(page);
  const last = `Csv${unique()}`;
  const a = await registerInUi(page, { 'First name': 'Ann', 'Last name': last });
  const b = await registerInUi(page, { 'First name': 'Bea', 'Last name': last });
  await page.goto(`/?q=${last.toLowerCase()}&sort=FirstName`);
  await hydrated(page);
  await expect(page.getByTestId('user-row')).toHaveCount(2);
  const download = page.waitForEvent('download');
  await page.getByTestId('users-export').click();
  const fs = await import('node:fs');
  const csv = fs.readFileSync((await (await download).path())!, 'utf8').trim().split('\n');
  expect(csv).toHaveLength(3);
  expect(csv[1].startsWith(`${a.deviceToken},Ann,${last},`)).toBe(true);
  expect(csv[2].startsWith(`${b.deviceToken},Bea,${last},`)).toBe(true);
  expect(csv.join('\n')).not.toContain(a.refreshToken);
});

test('a bulk "tracking off" on a filter changes exactly the counted users, and the audit log shows it', async ({ page }) => {
  await signIn(page);
  const last = `Bulk${unique()}`;
  for (const first of ['Ann', 'Bea', 'Cid']) await registerInUi(page, { 'First name': first, 'Last name': last });
  await page.goto(`/?q=${last.toLowerCase()}&tracking=on`);
  await hydrated(page);
  await expect(page.getByTestId('user-row')).toHaveCount(3);
  await page.getByTestId('bulk-everything').check();
  await page.getByLabel('Action', { exact: true }).selectOption({ label: 'Tracking off' });
  await page.getByRole('button', { name: 'Apply…' }).click();
  await expect(page.getByTestId('bulk-confirm')).toHaveText('Switch Tracking off for 3 users?');
  await page.getByRole('button', { name: 'Confirm' }).click();
  await expect(page.getByTestId('bulk-notice')).toContainText('3 users matched, 3 changed');
  await expect(page.getByTestId('users-empty')).toBeVisible();
  await page.goto(`/?q=${last.toLowerCase()}&tracking=off`);
  await expect(page.getByTestId('user-row')).toHaveCount(3);

  // Selected rows: one of them deactivated.
  await hydrated(page);
  // By the checkbox's name: a row's text also holds its DeviceToken, whose hex can contain
  // "bea" (it once did, and the filter matched two rows).
  await page.getByRole('checkbox', { name: `Select Bea ${last}`, exact: true }).check();
  await page.getByLabel('Action', { exact: true }).selectOption({ label: 'Deactivate' });
  await page.getByRole('button', { name: 'Apply…' }).click();
  await expect(page.getByTestId('bulk-confirm')).toHaveText('Deactivate for 1 users?');
  await page.getByRole('button', { name: 'Confirm' }).click();
  await expect(page.getByTestId('user-row')).toHaveCount(2);

  await page.goto('/audit?action=users.bulk_updated');
  await expect(page.getByTestId('audit-row').first()).toContainText('status Deactivated for 1 selected users: 1 matched, 1 changed');
  await expect(page.getByTestId('audit-row').nth(1)).toContainText('Tracking off for the users matching q=(a search), tracking=on: 3 matched, 3 changed');
});
