// The dashboard end to end, in headless Chromium (Debian's, driven by playwright-core) against
// a running engine: scripts/ui-test.sh starts one and passes BASE, ADMIN_TOKEN, VIEWER_TOKEN
// and ARTIFACTS. An operator finds an instance by a variable, opens it, starts it, sees its
// wait step waiting, sends the event from the page and sees the step and the instance complete
// with no reload; a viewer sees no action buttons. The instance page's screenshot is kept.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const { BASE, ADMIN_TOKEN, VIEWER_TOKEN } = process.env;
const ARTIFACTS = process.env.ARTIFACTS || join(tmpdir(), 'ui-artifacts');
const TIMEOUT = 15000;
const run = Math.random().toString(36).slice(2, 10);

let browser;
let profile;
let target;
let other;

async function call(method, path, body, token = ADMIN_TOKEN) {
  const response = await fetch(`${BASE}/api/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// A small order flow: a check, a wait for an approval event (its timeout routed by on_error), then
// shipping; enough to draw branches, an error route and a wait.
const definition = {
  steps: [
    { id: 'prepare', name: 'Prepare order', type: 'action', config: { action: 'log_message', message: 'order {{ variables.order }}' }, next_steps: ['check_amount'] },
    { id: 'check_amount', type: 'condition', config: { field: 'amount', operator: 'greater_than', value: 100 }, next_steps: ['approval', 'ship'] },
    { id: 'approval', name: 'Manager approval', type: 'wait', config: { wait_type: 'event', event: 'approved', timeout: '10m' }, next_steps: ['ship'], on_error: 'reject' },
    { id: 'ship', type: 'action', config: { action: 'set_variable', name: 'shipped', value: true } },
    { id: 'reject', type: 'action', config: { action: 'log_message', message: 'not approved', level: 'warn' } },
  ],
};

before(async () => {
  assert.ok(BASE && ADMIN_TOKEN && VIEWER_TOKEN, 'BASE, ADMIN_TOKEN and VIEWER_TOKEN are needed');
  mkdirSync(ARTIFACTS, { recursive: true });
  const template = await call('POST', '/templates', { name: `ui-e2e-orders-${run}`, definition });
  // Others first, so the one to find is neither alone nor simply the newest.
  other = await call('POST', '/instances', { template_id: template.id, variables: { order: `other-${run}`, amount: 500 } });
  target = await call('POST', '/instances', { template_id: template.id, variables: { order: `order-${run}`, amount: 250 } });
  await call('POST', '/instances', { template_id: template.id, variables: { order: `third-${run}`, amount: 900 } });
  profile = mkdtempSync(join(tmpdir(), 'ui-e2e-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

function watchRequests(page) {
  const urls = [];
  page.on('request', (request) => urls.push(request.url()));
  const errors = [];
  page.on('pageerror', (error) => errors.push(String(error)));
  return { urls, errors };
}

test('an operator finds an instance by a variable, runs it and sends its event, live', async () => {
  const page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const seen = watchRequests(page);
  await page.goto(`${BASE}/ui/#token=${ADMIN_TOKEN}`);
  await page.locator('#instance-filters').waitFor();
  assert.equal(new URL(page.url()).hash, '', 'the token is wiped from the address bar');

  // A malformed variable filter: the API's problem document, shown as it says it.
  await page.fill('#instance-filters textarea[name=variables]', 'bad path=1');
  await page.click('#instance-filters button[type=submit]');
  await page.locator('#instances .problem').filter({ hasText: '/variables.bad path' }).waitFor();
  assert.match(await page.locator('#instances .problem').innerText(), /422/);

  await page.fill('#instance-filters textarea[name=variables]', `order=order-${run}`);
  await page.click('#instance-filters button[type=submit]');
  const rows = page.locator('#instances tbody tr[data-instance]');
  await page.waitForFunction((id) => {
    const found = [...document.querySelectorAll('#instances tbody tr[data-instance]')];
    return found.length === 1 && found[0].dataset.instance === id;
  }, target.id);
  assert.equal(await rows.count(), 1);

  await rows.first().locator(`a[href="/ui/instances/${target.id}"]`).click();
  await page.waitForURL(`**/ui/instances/${target.id}`);
  // Anything set on the window survives only if the page never reloads.
  await page.evaluate(() => { window.__sameDocument = 'yes'; });
  await page.locator('#live[data-live=yes]').waitFor();
  await page.locator('#instance-status [data-status=pending]').waitFor();

  await page.click('#action-start');
  await page.locator('svg.graph g.node[data-step=approval][data-status=waiting]').waitFor();
  await page.locator('svg.graph g.node[data-step=prepare][data-status=completed]').waitFor();
  await page.locator('#instance-status [data-status=running]').waitFor();

  const form = page.locator('form.event-form[data-step=approval]');
  assert.equal(await form.locator('input[name=event]').inputValue(), 'approved');
  await form.locator('textarea[name=data]').fill('{"by": "the e2e test"}');
  await form.locator('#send-event').click();

  await page.locator('svg.graph g.node[data-step=approval][data-status=completed]').waitFor();
  await page.locator('svg.graph g.node[data-step=ship][data-status=completed]').waitFor();
  await page.locator('#instance-status [data-status=completed]').waitFor();
  await page.locator('#executions tr[data-step=approval][data-status=completed]').waitFor();
  assert.equal(await page.evaluate(() => window.__sameDocument), 'yes', 'the page did not reload');
  assert.equal(await page.locator('svg.graph g.node[data-step=reject][data-status=none]').count(), 1);

  const instance = await call('GET', `/instances/${target.id}`);
  assert.equal(instance.status, 'completed');
  assert.equal(instance.output.shipped, true);

  const screenshot = join(ARTIFACTS, 'instance.png');
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`screenshot: ${screenshot}`);

  assert.ok(seen.urls.some((u) => u.includes('/events/stream?ticket=')), 'the stream opened with a ticket');
  for (const url of seen.urls) {
    assert.ok(!url.includes(ADMIN_TOKEN) || new URL(url).hash, `the token went out in ${url}`);
    assert.ok(!new URL(url).search.includes(ADMIN_TOKEN), `the token is in a query string: ${url}`);
  }
  assert.deepEqual(seen.errors, []);
  await page.close();
});

test('a viewer sees the instance live but no action buttons', async () => {
  const page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const seen = watchRequests(page);
  await page.goto(`${BASE}/ui/instances/${other.id}#token=${VIEWER_TOKEN}`);
  await page.locator('#instance-status [data-status=pending]').waitFor();
  await page.locator('svg.graph g.node[data-step=approval]').waitFor();
  await page.locator('#live[data-live=yes]').waitFor();
  assert.equal(await page.locator('#bar .who[data-role=viewer]').count(), 1);
  assert.equal(await page.locator('button[id^=action-]').count(), 0);
  assert.equal(await page.locator('#actions').count(), 0);
  assert.equal(await page.locator('form.event-form').count(), 0);

  await page.locator(`a[href^="/ui/templates/${other.template_id}"]`).first().click();
  await page.locator('svg.graph g.node[data-step=check_amount]').waitFor();
  assert.equal(await page.locator('#create-instance').count(), 0, 'a viewer cannot create instances');
  assert.deepEqual(seen.errors, []);
  await page.close();
});

test('an unreadable id answers the problem document the API sent', async () => {
  const page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT);
  await page.goto(`${BASE}/ui/instances/not-a-uuid#token=${ADMIN_TOKEN}`);
  const problem = page.locator('.problem');
  await problem.waitFor();
  const text = await problem.innerText();
  assert.match(text, /Bad Request \(400\)/);
  assert.match(text, /not a valid id/);
  assert.match(text, /urn:chorus:problem:bad_request/);
  await page.close();
});
