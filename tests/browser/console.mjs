// End-to-end test of the Wardwatch console in the system's headless Chromium (Debian's
// `chromium`, driven by playwright-core; no browser download). Run by `.ci/run` against
// `wardwatch demo`:
//
//   node tests/browser/console.mjs http://127.0.0.1:PORT SCREENSHOT_DIR
//
// What a hospital analyst does on a first morning: sign in, open the demo's phishing
// incident, read its narrative, acknowledge it, search for the user's events, make an exception
// from one of its alerts, sign out. Every main page is saved as a PNG in SCREENSHOT_DIR.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

const base = (process.argv[2] || 'http://127.0.0.1:8080').replace(/\/$/, '');
const shots = process.argv[3] || 'target/console-screenshots';
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
page.setDefaultTimeout(30000);
// The whole page, and what a person sees first (the top of a long page).
const shot = async (name) => {
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
  await page.screenshot({ path: `${shots}/${name}-top.png` });
  console.log(`screenshot ${shots}/${name}.png`);
};
const step = (s) => console.log(`- ${s}`);

try {
  step('an anonymous visit lands on the sign-in page');
  await page.goto(`${base}/incidents`);
  assert.match(page.url(), /\/login\?next=%2Fincidents$/);
  assert.equal(await page.locator('input[name="csrf_token"]').count(), 1);
  await shot('login');

  step('a wrong password is refused with a message');
  await page.fill('#username', 'demo');
  await page.fill('#password', 'not-the-password');
  await page.click('button[type="submit"]');
  assert.match(await page.textContent('.err'), /wrong/);

  step('sign in as demo / demo');
  await page.fill('#username', 'demo');
  await page.fill('#password', 'demo');
  await page.click('button[type="submit"]');
  await page.waitForURL(`${base}/incidents`);

  step('the overview');
  await page.goto(`${base}/`);
  assert.equal(await page.textContent('h1'), 'Overview');
  assert.ok(await page.locator('svg[aria-label="bar chart"]').count() >= 1, 'alerts-over-time chart');
  assert.match(await page.textContent('main'), /Noteworthy/);
  assert.match(await page.textContent('main'), /sender\(s\) in the last 7 days/);
  await shot('overview');
  await page.goto(`${base}/?range=7d`);
  await shot('overview-7d');

  step('a noteworthy roll-up opens');
  const roll = page.locator('a[href^="/noteworthy?"]').first();
  if (await roll.count()) {
    await roll.click();
    assert.match(await page.textContent('h1'), /Noteworthy/);
    await shot('noteworthy');
  }

  step('the incident queue (medium and above) holds the phishing incident');
  await page.goto(`${base}/incidents`);
  await shot('incidents');
  const links = await page.locator('a[href^="/incidents/"]').evaluateAll(
    (as) => as.map((a) => a.getAttribute('href')));
  assert.ok(links.length >= 1, 'the queue is not empty');
  let phishing = null;
  for (const href of links) {
    await page.goto(`${base}${href}`);
    const narrative = await page.textContent('.narr');
    if (/mail/i.test(narrative) && /macro|office|winword|link/i.test(narrative)) {
      phishing = href;
      break;
    }
  }
  assert.ok(phishing, 'a phishing incident (mail, then an Office macro or link) is in the queue');

  step('read its narrative');
  const narrative = await page.textContent('.narr');
  for (const heading of ['What happened', 'Who and what', 'Why it matters', 'What to do']) {
    assert.ok(narrative.includes(heading), `narrative has "${heading}"`);
  }
  assert.ok(narrative.length > 400, 'the narrative says something');
  assert.equal(await page.locator('svg[aria-label="entity graph"]').count(), 1);
  await shot('incident');

  step('acknowledge it');
  await page.click('button:has-text("Acknowledge")');
  await page.waitForURL(`${base}${phishing}`);
  assert.match(await page.textContent('p.muted'), /status acknowledged/);

  step("search for the user's events");
  const user = (await page.locator('main a[href^="/users/"]').first().textContent()).trim();
  assert.ok(user.length > 0, 'the incident names a user');
  await page.goto(`${base}/users/${encodeURIComponent(user)}`);
  assert.match(await page.textContent('h1'), new RegExp(user, 'i'));
  await shot('user');
  await page.goto(`${base}/search`);
  await page.fill('input[name="q"]', `user.name:${user}`);
  await page.selectOption('select[name="range"]', '30d');
  await page.click('button:has-text("Search")');
  await page.waitForURL(/\/search\?q=/);
  const summary = await page.textContent('main p b');
  assert.ok(Number(summary) > 0, `events of ${user} found (${summary})`);
  assert.ok(await page.locator('svg[aria-label="bar chart"]').count() === 1, 'histogram');
  await shot('search');

  step('clicking a value adds it to the query and still finds events');
  const facet = page.locator('.facets a.val').first();
  const added = await facet.getAttribute('title');
  await facet.click();
  await page.waitForURL(/\/search\?q=/);
  assert.ok((await page.inputValue('input[name="q"]')).includes(added.replace(/^add /, '')));
  assert.ok(Number(await page.textContent('main p b')) > 0, 'the clicked value finds events');

  step('an event opens with its original and normalized fields');
  await page.locator('main table a[href^="/events/"]').first().click();
  assert.match(await page.textContent('main'), /Normalized fields[\s\S]*Original/);
  await shot('event');

  step('a query that does not parse is explained');
  await page.goto(`${base}/search?q=${encodeURIComponent('(host.name:PACS01')}`);
  assert.match(await page.textContent('.err'), /does not parse/);

  step('a host page, by the name the narrative uses');
  await page.goto(`${base}/hosts/PACS01`);
  assert.match(await page.textContent('main'), /Inventory/);
  await shot('host');
  await page.goto(`${base}/search?q=${encodeURIComponent('host.name:PACS01')}&range=30d`);
  assert.ok(Number(await page.textContent('main p b')) > 0, 'host.name:PACS01 finds PACS01.hospital.local');

  step('create an exception from one of its alerts');
  await page.goto(`${base}${phishing}`);
  const details = page.locator('details').first();
  await details.locator('summary').click();
  await details.locator('input[name="justification"]').fill('Approved test of the mail gateway (e2e)');
  await details.locator('button:has-text("Create exception")').click();
  await page.waitForURL(/\/rules\?created=/);
  assert.match(await page.textContent('.notice'), /created/);
  assert.match(await page.textContent('main'), /Approved test of the mail gateway/);
  await shot('rules');

  step('the other pages');
  await page.goto(`${base}/alerts`);
  assert.equal(await page.textContent('h1'), 'Alerts');
  await shot('alerts');
  await page.goto(`${base}/audit`);
  const audit = await page.textContent('main');
  assert.match(audit, /hash chain of all \d+ entries is intact/);
  for (const action of ['sign-in.failed', 'sign-in', 'incident.acknowledge', 'search', 'exception.create']) {
    assert.ok(audit.includes(action), `audit shows ${action}`);
  }
  await shot('audit');
  await page.goto(`${base}/admin`);
  assert.match(await page.textContent('main'), /demo/);
  await shot('admin');

  step('sign out');
  await page.click('header button:has-text("Sign out")');
  await page.waitForURL(/\/login/);
  await page.goto(`${base}/`);
  assert.match(page.url(), /\/login/);
  console.log('browser test passed');
} catch (e) {
  await shot('failure').catch(() => {});
  console.error(`browser test FAILED at ${page.url()}:`, e);
  process.exitCode = 1;
} finally {
  await browser.close();
}
