// Attacks on the consent page in headless Chromium (Debian `chromium`, via playwright-core), for
// tests/gateway/test_gateway_consent_attacks.py. Each scenario records what reached the
// attacker: every URL the browser was sent to under `redirectPrefix` (the attacker's redirect
// URI, intercepted here and never fetched) and every POST to /consent the browser made.
//
// Usage: node local/browser/consent_attacks.mjs '<json>'
//   { scenario, authorizeUrl, redirectPrefix, consentUrl?, attackOrigin?, screenshot? }
// scenario:
//   "fast-click"    the consent page is clicked where Allow is as soon as it shows; later a
//                   person answers it (answerConsent), which must still work
//   "double-click"  the attacker's page (on attackOrigin) opens a popup on the user's click and
//                   sends itself (the opener, top level) to `consentUrl` (a consent link or an
//                   authorize URL); the popup closes on the first click of a "double-click to
//                   continue", and the second click lands where Allow is
//   "other-context" the consent page of `authorizeUrl` is opened in a second browser context
//                   (another browser: no cookies); afterwards the first answers it
// Prints one JSON object with the scenario's observations.
import { chromium } from 'playwright-core';
import { launchOptions } from './chromium.mjs';
import { answerConsent, CONSENT_BUTTON } from './person.mjs';

const args = JSON.parse(process.argv[2]);
const browser = await chromium.launch(launchOptions());
const result = { landed: [], consentPosts: [] };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A context whose requests to the attacker's redirect URI are recorded and answered here, and
 *  whose consent form submissions are counted. */
async function watchedContext() {
  const context = await browser.newContext();
  await context.route((url) => url.href.startsWith(args.redirectPrefix), (route) => {
    result.landed.push(route.request().url());
    return route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>attacker callback</h1>' });
  });
  context.on('request', (request) => {
    if (request.method() === 'POST' && new URL(request.url()).pathname === '/consent') {
      result.consentPosts.push(request.url());
    }
  });
  return context;
}

/** Where Allow is on `page` (its centre), and whether a point there hits it and it is disabled. */
async function allowTarget(page) {
  const box = await page.locator(CONSENT_BUTTON('approve')).boundingBox();
  const x = box.x + box.width / 2;
  const y = box.y + box.height / 2;
  const hit = await page.evaluate(([px, py]) => {
    const button = document.elementFromPoint(px, py)?.closest('button');
    return { approve: button?.value === 'approve', disabled: !!button?.disabled };
  }, [x, y]);
  return { x, y, ...hit };
}

try {
  if (args.scenario === 'fast-click') {
    const context = await watchedContext();
    const page = await context.newPage();
    // When the first pointerdown reached the page, on the page's own clock (a passive listener:
    // Chromium delivers pointer events to a disabled button too, though no click).
    await page.addInitScript(() => {
      window.addEventListener('pointerdown', (e) => { if (window.__firstDown === undefined) window.__firstDown = e.timeStamp; }, true);
    });
    await page.goto(args.authorizeUrl, { waitUntil: 'commit' });
    // A click at Allow's place as soon as the page has been shown: raw input, no waiting for the
    // button to be enabled (a locator click would wait). "Shown" is the first contentful paint's
    // entry, which Chromium adds once the frame has been presented: laid out is not enough, since on
    // a busy machine a click sent at layout can reach the page before the frame is on screen (no
    // paint entry yet, or one later than the click). A busy machine can also make one attempt
    // late; the page is then shown again (the same request) and clicked again, up to five times.
    for (let attempt = 1; attempt <= 5; attempt += 1) {
      if (attempt > 1) {
        await page.reload({ waitUntil: 'commit' });
      }
      const target = await (await page.waitForFunction((selector) => {
        const button = document.querySelector(selector);
        const rect = button && button.getBoundingClientRect();
        if (!rect || !rect.width || !performance.getEntriesByName('first-contentful-paint').length) {
          return null;
        }
        const x = rect.x + rect.width / 2;
        const y = rect.y + rect.height / 2;
        const hit = document.elementFromPoint(x, y)?.closest('button');
        return { x, y, approve: hit?.value === 'approve', disabled: !!hit?.disabled };
      }, CONSENT_BUTTON('approve'), { polling: 'raf', timeout: 20000 })).jsonValue();
      await page.mouse.click(target.x, target.y);
      result.target = target;
      result.attempts = attempt;
      // From the first contentful paint (the page becoming visible) to the click's pointerdown.
      result.clock = await page.evaluate(() => ({
        paintAt: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null,
        downAt: window.__firstDown ?? null,
      })).catch((e) => ({ error: String(e) }));
      const { paintAt, downAt } = result.clock;
      result.clickAfterMs = paintAt != null && downAt != null ? downAt - paintAt : null;
      if (result.clickAfterMs === null || result.clickAfterMs < 100) {
        break;
      }
    }
    await sleep(2000);
    result.afterFastClick = { url: page.url(), landed: result.landed.length, consentPosts: result.consentPosts.length };
    if (args.screenshot) {
      await page.screenshot({ path: args.screenshot, fullPage: true });
    }
    // The same page answered by a person still signs in.
    await answerConsent(page, 'approve');
    await page.waitForURL((url) => url.href.startsWith(args.redirectPrefix), { timeout: 20000 });
    result.finalUrl = result.landed[result.landed.length - 1] || page.url();
  } else if (args.scenario === 'double-click') {
    const context = await watchedContext();
    const attackPage = `<!DOCTYPE html><title>Claim your prize</title>
<button id="start" style="font-size:2rem">Click to start</button>
<script>
document.getElementById('start').addEventListener('click', () => {
  window.open('/popup', 'prize', 'width=480,height=360');
  // Behind the popup, the opener (this top-level window) goes to the consent page.
  setTimeout(() => { location.href = ${JSON.stringify(args.consentUrl)}; }, 100);
});
</script>`;
    const popupPage = `<!DOCTYPE html><title>Almost there</title>
<p style="font-size:2rem">Double-click anywhere to continue</p>
<script>
// The first click of the double click closes this window; the second lands on whatever is under it.
document.addEventListener('mousedown', () => window.close());
</script>`;
    await context.route(`${args.attackOrigin}/**`, (route) => {
      const path = new URL(route.request().url()).pathname;
      return route.fulfill({ status: 200, contentType: 'text/html', body: path === '/popup' ? popupPage : attackPage });
    });
    const page = await context.newPage();
    await page.goto(`${args.attackOrigin}/`);
    const [popup] = await Promise.all([context.waitForEvent('page'), page.click('#start')]);
    await popup.waitForLoadState('load');
    // The attacker waits until the opener has loaded what it was sent to.
    await page.waitForURL((url) => url.pathname === '/consent', { timeout: 20000 });
    await page.waitForLoadState('load');
    result.openerStatus = await page.evaluate(() => document.title);
    const hasAllow = (await page.locator(CONSENT_BUTTON('approve')).count()) > 0;
    result.consentPageShown = hasAllow;
    // Where Allow is (when the page shows one), else where it would be.
    const target = hasAllow ? await allowTarget(page) : { x: 120, y: 420, approve: false, disabled: false };
    result.target = target;
    // First click: in the popup, which closes on mousedown.
    await popup.mouse.move(200, 150);
    await popup.mouse.down().catch(() => {});
    await popup.mouse.up().catch(() => {});
    if (!popup.isClosed()) {
      await popup.waitForEvent('close', { timeout: 5000 }).catch(() => {});
    }
    result.popupClosed = popup.isClosed();
    // Second click, a double click's interval later, where Allow is on the opener.
    await sleep(100);
    await page.mouse.click(target.x, target.y);
    await sleep(2000);
    result.openerUrl = page.url();
    if (args.screenshot) {
      await page.screenshot({ path: args.screenshot, fullPage: true });
    }
  } else if (args.scenario === 'other-context') {
    const owner = await watchedContext();
    const ownerPage = await owner.newPage();
    await ownerPage.goto(args.authorizeUrl);
    await ownerPage.locator(CONSENT_BUTTON('approve')).waitFor({ state: 'visible', timeout: 20000 });
    const consentUrl = ownerPage.url();
    // Another browser: the consent link alone, no cookies of the browser that started it.
    const other = await watchedContext();
    const otherPage = await other.newPage();
    const response = await otherPage.goto(consentUrl);
    result.other = {
      status: response.status(),
      setCookie: (await response.headerValue('set-cookie')) || '',
      text: await otherPage.locator('body').innerText(),
      forms: await otherPage.locator('form').count(),
      cookies: (await other.cookies()).map((c) => c.name),
    };
    // The browser that started the sign-in still can answer it: the refusal changed nothing.
    await answerConsent(ownerPage, 'approve');
    await ownerPage.waitForURL((url) => url.href.startsWith(args.redirectPrefix), { timeout: 20000 });
    result.finalUrl = result.landed[result.landed.length - 1] || ownerPage.url();
  } else {
    throw new Error(`unknown scenario ${args.scenario}`);
  }
} catch (e) {
  result.error = String((e && e.stack) || e);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(result));
