// Screenshots of the dashboard at a laptop width and a narrow width (not a test).
import { chromium } from '@playwright/test';
const base = process.env.BASE;
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
for (const [name, width] of [['wide', 1280], ['narrow', 390]]) {
  const page = await browser.newPage({ viewport: { width, height: 800 } });
  await page.goto(base + '/sign-in');
  await page.screenshot({ path: `/tmp/shots/${name}-signin.png` });
  await page.waitForSelector('[data-hydrated="true"]');
  await page.getByLabel('E-mail').fill('admin@localhost');
  await page.getByLabel('Password').fill('shot admin password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('signed-in-as').or(page.getByRole('button', { name: 'Sign out' })).first().waitFor();
  await page.goto(base + '/?tracking=on&sort=LastName&size=3');
  await page.screenshot({ path: `/tmp/shots/${name}-users.png`, fullPage: true });
  await page.goto(base + '/register');
  await page.waitForSelector('[data-hydrated="true"]');
  await page.screenshot({ path: `/tmp/shots/${name}-register.png`, fullPage: true });
  await page.close();
}
await browser.close();
