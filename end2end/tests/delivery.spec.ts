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
