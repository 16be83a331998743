// The desk in a real browser: Debian's chromium, headless, driven by
// playwright-core (tests/desk/package.json; never a downloaded browser),
// against a running `chartsync desk` on the archivist's store of an
// organisation whose two clinics changed one patient's phone at once.
// test_desk.sh builds that organisation, starts the desk and checks what
// the resolution did after sync; this file does what a person does at the
// page and what a stranger's request must not do:
//   - a wrong passphrase is refused; the right one signs in
//   - the review queue lists the patient; its page shows both candidates
//     side by side (who, terminal, site) and the value both started from
//   - j / ArrowLeft preview the left side of another conflict; taking one
//     side by clicking shows the change to be signed, then signs it
//   - the record's history draws one graph node per change row
//   - a POST without the CSRF token (403) and a foreign Host (421) are
//     refused; a page left open past desk.idle empties itself and lands on
//     /signin?expired=1 (desk.js), and so does the next page load
//   - the access report shows the review page's view once it was left
//   - every page passes axe-core with no serious or critical violation,
//     breaks none of the Content-Security-Policy, and its screenshot is
//     written to the artefact folder
// Every check prints "ok: ..." or "FAIL: ..."; the run goes on after a
// failure where it can, so one run says all that is wrong; exit 1 when
// anything failed. The last line on stdout is a JSON object of what the
// shell checks next (the history page's counts).
//
// Environment: DESK_URL (http://127.0.0.1:PORT/), DESK_ARTEFACTS,
// DESK_USER, DESK_PASS, DESK_RECORD (the patient's full id), DESK_FIELD
// (phone), DESK_BASE, DESK_TAKE and DESK_OTHER (the value both started
// from, the one to take, the other), DESK_TAKE_WHO/_TERMINAL/_SITE and
// DESK_OTHER_WHO/_TERMINAL/_SITE, DESK_KEY_FIELD (a second field under
// review, for the keyboard), DESK_IDLE_S (desk.idle in seconds).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');
const { chromium } = require('playwright-core');

const env = (name) => {
  const v = process.env[name];
  if (v === undefined || v === '') throw new Error(`desk.test.js: ${name} is not set`);
  return v;
};
const base = env('DESK_URL').replace(/\/$/, '');
// the session cookie's name holds the desk's port (two desks, two cookies)
const cookieName = `chartsync_desk_${new URL(base).port}`;
const artefacts = env('DESK_ARTEFACTS');
const user = env('DESK_USER');
const pass = env('DESK_PASS');
const record = env('DESK_RECORD');
const field = env('DESK_FIELD');
const idleSeconds = Number(env('DESK_IDLE_S'));
const sides = {
  take: { value: env('DESK_TAKE'), who: env('DESK_TAKE_WHO'),
          terminal: env('DESK_TAKE_TERMINAL'), site: env('DESK_TAKE_SITE') },
  other: { value: env('DESK_OTHER'), who: env('DESK_OTHER_WHO'),
           terminal: env('DESK_OTHER_TERMINAL'), site: env('DESK_OTHER_SITE') },
};
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

let failures = 0;
const results = {};
function ok(what) { console.error(`ok: ${what}`); }
function fail(what, why) {
  failures++;
  console.error(`FAIL: ${what}: ${why}`);
}
function check(cond, what, why) {
  if (cond) ok(what); else fail(what, why);
  return cond;
}
// step(WHAT, FN): FN's own failures are counted; a throw is one failure
async function step(what, fn) {
  try {
    await fn();
    return true;
  } catch (e) {
    fail(what, (e && e.message ? e.message : String(e)).split('\n')[0]);
    return false;
  }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const text = async (loc) => ((await loc.textContent()) || '').replace(/\s+/g, ' ').trim();

// Every page: its screenshot, no CSP violation, axe-core's verdict.
let shot = 0;
async function audit(page, name) {
  const file = path.join(artefacts, `${String(++shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.error(`screenshot: ${file}`);
  const csp = await page.evaluate(() => window.__cspViolations || []);
  check(csp.length === 0, `${name}: nothing breaks the Content-Security-Policy`,
        csp.join('; '));
  // evaluated through the DevTools protocol, which the page's CSP does
  // not govern: the page under test keeps its own policy
  await page.evaluate(axeSource);
  const r = await page.evaluate(() => window.axe.run(document, {
    resultTypes: ['violations'],
  }).then((res) => res.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
  }))));
  for (const v of r)
    console.error(`axe ${name}: ${v.impact} ${v.id} (${v.help}) at ${v.nodes.join(', ')}`);
  const bad = r.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  check(bad.length === 0, `${name}: axe-core finds no serious or critical violation`,
        bad.map((v) => `${v.impact} ${v.id}`).join(', '));
}

// A request of our own (node's http, not the browser): status, headers
function request(method, urlPath, { headers = {}, body } = {}) {
  const u = new URL(base + urlPath);
  return new Promise((resolve, reject) => {
    const rq = http.request({ host: u.hostname, port: u.port, method, path: u.pathname + u.search,
                              headers }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    rq.on('error', reject);
    rq.setTimeout(20000, () => rq.destroy(new Error(`${method} ${urlPath}: no answer`)));
    if (body !== undefined) rq.write(body);
    rq.end();
  });
}

async function main() {
  fs.mkdirSync(artefacts, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'chartsync-desk-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update',
           '--disable-sync', '--no-first-run'],
    viewport: { width: 1280, height: 900 },
  });
  // the time of this browser's last request: the idle clock of its session
  let lastRequest = Date.now();
  // (a navigator.sendBeacon is not among these: see the expiry step)
  ctx.on('request', () => { lastRequest = Date.now(); });
  await ctx.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  page.setDefaultTimeout(20000);
  try {
    await run(ctx, page, () => lastRequest);
  } finally {
    await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

async function run(ctx, page, lastRequest) {
  // ---- every response's headers ----
  await step('the headers every response carries', async () => {
    const r = await request('GET', '/signin');
    check(r.status === 200, 'GET /signin answers 200', `status ${r.status}`);
    const h = r.headers;
    check(h['cache-control'] === 'no-store', 'Cache-Control: no-store', h['cache-control']);
    check(h['referrer-policy'] === 'no-referrer', 'Referrer-Policy: no-referrer', h['referrer-policy']);
    check(h['x-content-type-options'] === 'nosniff', 'X-Content-Type-Options: nosniff',
          h['x-content-type-options']);
    const csp = h['content-security-policy'] || '';
    check(/frame-ancestors 'none'/.test(csp) && /script-src 'self'/.test(csp) &&
          !/unsafe-inline/.test(csp), "Content-Security-Policy: script-src 'self', frame-ancestors 'none'",
          csp);
    // desk.js reports a page left with navigator.sendBeacon, which the
    // CSP governs by connect-src: under default-src 'none' the beacon
    // needs connect-src 'self', or no page view is ever recorded as left
    check(/connect-src 'self'/.test(csp), "the CSP lets desk.js's /leave beacon go (connect-src 'self')",
          csp);
  });

  // ---- sign-in ----
  if (!await step('the sign-in page', async () => {
    await page.goto(`${base}/signin`);
    await page.waitForSelector('form#signin');
    await audit(page, 'signin');
    await page.fill('form#signin input[name=user]', user);
    await page.fill('form#signin input[name=passphrase]', `${pass} but wrong`);
    await Promise.all([page.waitForEvent('load'), page.click('form#signin [type=submit]')]);
    // the sign-in page again, saying so: not a refusal of the form itself
    // (a browser sends `Origin: null` with every form under
    // Referrer-Policy: no-referrer, and the CSRF check must let that by)
    const err = page.locator('p.error[role=alert]');
    check(await err.count() > 0 && await page.locator('form#signin').count() === 1,
          'a wrong passphrase is refused (the sign-in form again, with an error)',
          `at ${page.url()}: ${await text(page.locator('main'))}`);
    const cookies = await ctx.cookies(base);
    check(!cookies.some((c) => c.name === cookieName),
          'a wrong passphrase gives no session cookie', JSON.stringify(cookies));
    await audit(page, 'signin-refused');
    if (await page.locator('form#signin').count() === 0) await page.goto(`${base}/signin`);
    await page.fill('form#signin input[name=user]', user);
    await page.fill('form#signin input[name=passphrase]', pass);
    await Promise.all([page.waitForEvent('load'), page.click('form#signin [type=submit]')]);
    if (new URL(page.url()).pathname !== '/review')
      throw new Error(`the right passphrase lands on ${page.url()}, not /review: ` +
                      await text(page.locator('body')));
    ok('the right passphrase signs in and lands on /review');
    const c = (await ctx.cookies(base)).find((k) => k.name === cookieName);
    check(c && c.httpOnly && c.sameSite === 'Strict',
          'the session cookie is HttpOnly and SameSite=Strict', JSON.stringify(c));
    check((await text(page.locator('#who'))).includes(user), `#who names ${user}`,
          await text(page.locator('#who')));
  })) return;

  // ---- the review queue ----
  const short = record.slice(0, 12);
  if (!await step('the review queue', async () => {
    await page.waitForSelector('table#queue');
    await audit(page, 'review-queue');
    const row = page.locator(`table#queue tr.queue-item[data-record^="${short}"]`);
    check(await row.count() === 1, 'the review queue lists the patient', `${await row.count()} rows`);
    await Promise.all([page.waitForURL(/\/review\/[0-9a-f]+$/),
                       row.locator('a[href^="/review/"]').first().click()]);
    ok('the queue links to the record\'s review page');
  })) return;

  // ---- one record's candidates, side by side ----
  let takeId = null;
  const reviewUrl = page.url();
  if (!await step('the record\'s review page', async () => {
    const sec = page.locator(`section.conflict[data-field="${field}"]`);
    await sec.waitFor();
    await audit(page, 'review-record');
    const baseText = await text(sec.locator('.base'));
    check(baseText.includes(process.env.DESK_BASE), `.base shows ${process.env.DESK_BASE}`, baseText);
    const cands = sec.locator('.candidate');
    check(await cands.count() === 2, 'two candidates side by side', `${await cands.count()}`);
    for (const [name, want] of Object.entries(sides)) {
      const c = sec.locator('.candidate', { has: page.locator('.value', { hasText: want.value }) });
      if (!check(await c.count() === 1, `the candidate ${want.value} is shown`, `${await c.count()}`))
        continue;
      for (const k of ['who', 'terminal', 'site']) {
        const t = await text(c.locator(`.${k}`));
        check(t.includes(want[k]), `${want.value}: .${k} says ${want[k]}`, t);
      }
      for (const k of ['when', 'change', 'signature']) {
        check(await c.locator(`.${k}`).count() === 1, `${want.value}: has .${k}`, 'missing');
      }
      const sig = c.locator('.signature');
      check(await sig.evaluate((e) => e.classList.contains('sig-ok')),
            `${want.value}: its signature is shown valid (sig-ok)`, await sig.getAttribute('class'));
      if (name === 'take') takeId = await c.getAttribute('data-change');
    }
    check(await page.locator('table#context').count() === 1, 'the rest of the record in #context',
          'no table#context');
  })) return;
  if (!takeId) return fail('taking a side', 'no candidate to take');

  // ---- the keyboard: j to the next conflict, ArrowLeft takes its left side ----
  await step('the keyboard takes a side', async () => {
    const keyField = env('DESK_KEY_FIELD');
    const target = page.locator(`section.conflict[data-field="${keyField}"]`);
    const n = await page.locator('section.conflict').count();
    await page.evaluate(() => document.activeElement && document.activeElement.blur());
    let at = null;
    for (let i = 0; i < n && at !== keyField; i++) {
      await page.keyboard.press('j');
      at = await page.evaluate(() => {
        const s = document.activeElement && document.activeElement.closest('section.conflict');
        return s ? s.getAttribute('data-field') : null;
      });
    }
    if (!check(at === keyField, `j moves the focus to the ${keyField} conflict`, `focus on ${at}`))
      return;
    const left = await text(target.locator('.candidate').first().locator('.value'));
    await Promise.all([page.waitForURL(/\/preview$/), page.keyboard.press('ArrowLeft')]);
    const pv = await text(page.locator('#change-preview'));
    check(pv.includes(left), `ArrowLeft previews the left candidate (${left})`, pv);
    // nothing is signed from here: back to the record's candidates
    await page.goto(reviewUrl);
    await page.locator(`section.conflict[data-field="${field}"]`).waitFor();
  });

  // ---- take one side, preview, sign ----
  if (!await step('take one side by clicking, preview, sign', async () => {
    const button = page.locator(`button.take[name="take.${field}"][value="${takeId}"]`);
    await Promise.all([page.waitForURL(/\/preview$/), button.click()]);
    const preview = page.locator('#change-preview');
    await preview.waitFor();
    const pv = await text(preview);
    check(pv.includes(sides.take.value) || pv.includes(takeId.slice(0, 12)),
          `the preview shows what will be signed (${sides.take.value})`, pv);
    check(!/winner/i.test(await text(page.locator('main'))), 'nothing is called a "winner"', pv);
    await audit(page, 'review-preview');
    await Promise.all([page.waitForEvent('load'), page.click('form#confirm button#sign')]);
    await page.locator('#resolved').waitFor();
    ok('signed: #resolved says so');
    await audit(page, 'review-resolved');
  })) return;

  // ---- the record's history ----
  await step('the record\'s history', async () => {
    await page.goto(`${base}/record/${record}`);
    await page.locator('table#history').waitFor();
    const nodes = await page.locator('svg#graph .node').count();
    const rows = await page.locator('table#history tr.change').count();
    results.history_nodes = nodes;
    results.history_rows = rows;
    check(nodes === rows && rows > 0, `the graph draws one node per change (${nodes} nodes, ${rows} rows)`,
          `${nodes} nodes, ${rows} rows`);
    const ids = await page.locator('table#history tr.change').evaluateAll(
      (trs) => trs.map((t) => t.id.replace(/^c-/, '')));
    const nodeIds = await page.locator('svg#graph .node').evaluateAll(
      (ns) => ns.map((n) => n.getAttribute('data-change')));
    check(JSON.stringify([...ids].sort()) === JSON.stringify([...nodeIds].sort()),
          'each node names a change of the table', `${ids} vs ${nodeIds}`);
    check(await page.locator('svg#graph .node.resolve, svg#graph .node.merge').count() >= 1,
          'the resolution is drawn as a resolve or merge node', 'none');
    check(await page.locator('svg#graph .edge').count() >= rows - 1, 'edges join the changes',
          `${await page.locator('svg#graph .edge').count()} edges`);
    await audit(page, 'history');
  });

  // ---- the reports ----
  for (const [name, table] of [['access', 'table#access'], ['consistency', 'table#findings'],
                               ['coding', 'table#coding'], ['sync', 'table#devices']]) {
    await step(`the ${name} report`, async () => {
      await page.goto(`${base}/reports/${name}`);
      await page.locator(table).waitFor();
      ok(`/reports/${name} shows ${table}`);
      await audit(page, `report-${name}`);
    });
  }

  // ---- the access report shows the review page's view, once left ----
  await step('the access report shows the review page view', async () => {
    // the review page (a view) was left above: its /leave beacon wrote the
    // event; a beacon is sent as the page goes, so wait for it a while
    let rows = 0;
    for (let i = 0; i < 20 && rows === 0; i++) {
      await page.goto(`${base}/reports/access?user=${encodeURIComponent(user)}`);
      rows = await page.locator('table#access tr.event', { hasText: 'desk review' })
        .filter({ hasText: user }).count();
      if (rows === 0) await sleep(500);
    }
    // navigator.sendBeacon is governed by the CSP's connect-src: with
    // default-src 'none' and no connect-src 'self' no beacon leaves, and
    // the page being left reports that nowhere a test can see
    check(rows > 0, `the access report lists a "desk review" view by ${user}`,
          "no such row (was the /leave beacon sent? the CSP needs connect-src 'self' for it)");
    const csv = page.locator('a#csv');
    check(await csv.count() === 1 && /format=csv/.test(await csv.getAttribute('href')),
          'the access report links its CSV download', 'no a#csv with format=csv');
  });

  // ---- refusals ----
  await step('requests a stranger could make are refused', async () => {
    const c = (await ctx.cookies(base)).find((k) => k.name === cookieName);
    if (!c) throw new Error('no session cookie');
    const cookie = `${cookieName}=${c.value}`;
    const form = `take.${field}=${takeId}`;
    const noCsrf = await request('POST', `/review/${record}/preview`, {
      headers: { Cookie: cookie, 'Content-Type': 'application/x-www-form-urlencoded',
                 'Content-Length': Buffer.byteLength(form) },
      body: form,
    });
    check(noCsrf.status === 403, 'a POST without the CSRF token is refused (403)', `${noCsrf.status}`);
    const wrong = `csrf=${'0'.repeat(64)}&${form}`;
    const badCsrf = await request('POST', `/review/${record}/preview`, {
      headers: { Cookie: cookie, 'Content-Type': 'application/x-www-form-urlencoded',
                 'Content-Length': Buffer.byteLength(wrong) },
      body: wrong,
    });
    check(badCsrf.status === 403, 'a POST with a wrong CSRF token is refused (403)', `${badCsrf.status}`);
    const evil = await request('GET', '/review', { headers: { Cookie: cookie, Host: 'evil.example' } });
    check(evil.status === 421, 'a request with Host: evil.example is refused (421)', `${evil.status}`);
    const evilPort = await request('GET', '/review', {
      headers: { Cookie: cookie, Host: `evil.example:${new URL(base).port}` } });
    check(evilPort.status === 421, 'a foreign Host with the desk\'s port is refused (421)',
          `${evilPort.status}`);
    const none = await request('GET', '/review');
    check(none.status === 303 && /\/signin/.test(none.headers.location || ''),
          'a page asked for without a session redirects to /signin (303)',
          `${none.status} ${none.headers.location}`);
  });

  // ---- an expired session ----
  await step('a page left open past desk.idle empties itself and the session is over', async () => {
    // a page that shows patient data, loaded twice a second apart, so the
    // beacon of the page left before (which restarts the idle clock too)
    // has gone before the clock starts; then nobody touches it
    await page.goto(`${base}/record/${record}`);
    await sleep(1000);
    await page.goto(`${base}/record/${record}`);
    check(await page.locator('table#history').count() === 1, 'the history page is on screen',
          'no table#history');
    const idle = await page.locator('meta[name="idle"]').getAttribute('content');
    check(idle === String(idleSeconds), 'the page knows the idle time (meta idle)', `${idle}`);
    const t0 = Date.now();
    await page.waitForURL((u) => u.pathname === '/signin' && u.searchParams.get('expired') === '1',
                          { timeout: (idleSeconds + 20) * 1000 });
    const waited = (Date.now() - t0) / 1000;
    check(waited > idleSeconds - 2 && waited < idleSeconds + 10,
          `the page went to /signin?expired=1 by itself after ${waited.toFixed(1)} s`, 'too soon or too late');
    check(await page.locator('table#history, svg#graph').count() === 0,
          'the patient data is no longer on screen', page.url());
    const says = await text(page.locator('main'));
    check(/signed out/i.test(says) && says.includes(String(Math.max(1, Math.round(idleSeconds / 60)))),
          'the sign-in page says the person was signed out after the idle minutes', says);
    await page.goto(`${base}/review`);
    const u = new URL(page.url());
    check(u.pathname === '/signin' && u.searchParams.get('expired') === '1',
          'the next page load lands on /signin?expired=1', page.url());
    await audit(page, 'signin-expired');
  });
}

main().then(() => {
  console.log(JSON.stringify(results));
  if (failures) {
    console.error(`desk.test.js: ${failures} check(s) failed`);
    process.exit(1);
  }
  console.error('desk.test.js: every check passed');
}, (e) => {
  console.log(JSON.stringify(results));
  console.error(`desk.test.js: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
