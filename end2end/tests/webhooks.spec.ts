import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { test, expect, hydrated, signIn, registerInUi, ADMIN_EMAIL, ADMIN_PASSWORD } from './fixtures';

type Verified = { type: string; data: Record<string, any> };

/** A receiver on loopback that verifies each request with the published Standard Webhooks
 *  library (npm `standardwebhooks`) and keeps what verified; it answers 400 otherwise. */
async function receiver(secret: () => string) {
  const verified: Verified[] = [];
  const refused: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      try {
        verified.push(new Webhook(secret()).verify(body, req.headers as Record<string, string>) as Verified);
        res.writeHead(204).end();
      } catch (e) {
        refused.push(String(e));
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/in`;
  return { url, verified, refused, close: () => server.close() };
}

test('a flag switched in the dashboard reaches a subscribed receiver as user.flags_changed, signed', async ({ page, request }) => {
  let secret = '';
  let id = '';
  const hook = await receiver(() => secret);
  const login = await request.post('/v1/Auth/Login', { data: { LoginFields: { Email: ADMIN_EMAIL }, Password: ADMIN_PASSWORD } });
  const admin = (await login.json()).Result.AccessToken.Token;
  try {
    const created = await request.post('/v1/Webhooks', {
      headers: { Authorization: `Bearer ${admin}` },
      data: { Url: hook.url, AllowPrivate: true, EventTypes: ['user.flags_changed'], Description: 'e2e CRM' },
    });
    expect(created.status()).toBe(200);
    const answer = (await created.json()).Result;
    secret = answer.Secret;
    id = answer.Webhook.Id;

    await signIn(page);
    const user = await registerInUi(page, { 'First name': 'Wendy', 'Last name': 'Hook' });
    await page.getByRole('link', { name: 'Open the user' }).click();
    await hydrated(page);
    const saved = page.waitForResponse((r) => r.url().endsWith('/api/set_flag') && r.status() === 200);
    await page.getByTestId('switch-logging').click();
    await saved;

    await expect.poll(() => hook.verified.filter((e) => e.data.DeviceToken === user.deviceToken).length, { timeout: 15_000 }).toBe(1);
    const event = hook.verified.find((e) => e.data.DeviceToken === user.deviceToken)!;
    expect(event.type).toBe('user.flags_changed');
    expect(event.data.Changes).toEqual({ EnableLogging: { Before: false, After: true } });
    expect(event.data.Actor).toBe(`admin:${ADMIN_EMAIL}`);
    expect(hook.refused).toEqual([]);
  } finally {
    // Later tests switch flags too: no subscription outlives its receiver.
    if (id) await request.delete(`/v1/Webhooks/${id}`, { headers: { Authorization: `Bearer ${admin}` } });
    hook.close();
  }
});

test('the Webhooks page subscribes a URL, shows its secret once, tests it, and resends from the log', async ({ page }) => {
  let secret = '';
  const hook = await receiver(() => secret);
  try {
    await signIn(page);
    await page.goto('/webhooks');
    await hydrated(page);
    await page.getByLabel('URL', { exact: true }).fill(hook.url);
    await page.getByLabel('Description', { exact: true }).fill('e2e billing');
    await page.getByLabel(/user\.deleted/).check();
    await page.getByLabel(/Allow a loopback or private-network URL/).check();
    await page.getByRole('button', { name: 'Subscribe' }).click();
    secret = (await page.getByTestId('webhook-secret-value').textContent())!.trim();
    expect(secret).toMatch(/^whsec_/);
    const row = page.getByTestId('webhook-row').filter({ hasText: 'e2e billing' });
    await expect(row.getByTestId('webhook-state')).toHaveText('enabled');
    await page.screenshot({ path: 'test-results/webhooks-page.png', fullPage: true });

    await row.getByRole('button', { name: 'Send test' }).click();
    await expect(page.getByTestId('notice')).toContainText('webhook.test');
    await expect.poll(() => hook.verified.filter((e) => e.type === 'webhook.test').length, { timeout: 15_000 }).toBe(1);

    // Shown once: gone after a reload.
    await page.reload();
    await hydrated(page);
    await expect(page.locator('body')).not.toContainText(secret);

    await page.getByRole('link', { name: hook.url }).first().click();
    await hydrated(page);
    const delivery = page.getByTestId('webhook-delivery-row').first();
    await expect(delivery.getByTestId('webhook-delivery-state')).toHaveText('sent');
    await expect(delivery).toContainText('204 in');
    await delivery.getByRole('button', { name: 'Resend' }).click();
    await expect(page.getByTestId('notice')).toContainText('Sent again');
    await expect.poll(() => hook.verified.filter((e) => e.type === 'webhook.test').length, { timeout: 15_000 }).toBe(2);
    await page.screenshot({ path: 'test-results/webhook-page.png', fullPage: true });

    await page.getByRole('button', { name: 'Delete…' }).click();
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await expect(page).toHaveURL(/\/webhooks$/);
    await expect(page.getByTestId('webhook-row').filter({ hasText: 'e2e billing' })).toHaveCount(0);
    expect(hook.refused).toEqual([]);
  } finally {
    hook.close();
  }
});
