// Drives the authorization flow in headless Chromium (Debian `chromium`, via playwright-core):
// authorize -> consent page (screenshot) -> Allow/Deny -> Entra stand-in (sign-in page when
// auto-login is off) -> the client's redirect URI, which is intercepted and recorded. The
// consent page is answered as a person would (person.mjs: shown, read with the pointer, then
// the button once the page enables it).
// Also checks that the consent page refuses to render inside a frame.
//
// Usage: node local/browser/consent.mjs '<json>'
//   { authorizeUrl, redirectPrefix, decision: "approve"|"deny", screenshot, username? }
// Prints one JSON object: { consentTitle, consentText, finalUrl, framed, cookies }.
import { chromium } from 'playwright-core';
import { launchOptions } from './chromium.mjs';
import { answerConsent } from './person.mjs';

const args = JSON.parse(process.argv[2]);
const browser = await chromium.launch(launchOptions());
const result = {};
try {
  const context = await browser.newContext();
  // The client's loopback redirect URI: nothing listens there; record the URL and show a page.
  let landed = null;
  await context.route((url) => url.href.startsWith(args.redirectPrefix), (route) => {
    const url = route.request().url();
    if (url.includes('/frame-test')) {
      return route.fulfill({ status: 200, contentType: 'text/html', body: `<iframe id="f" src="${args.consentUrlForFrame || ''}"></iframe>` });
    }
    landed = url;
    return route.fulfill({ status: 200, contentType: 'text/html', body: '<h1>client callback</h1>' });
  });
  const page = await context.newPage();
  await page.goto(args.authorizeUrl);
  await page.waitForSelector('form[action="/consent"] button[value="approve"]', { timeout: 20000 });
  result.consentTitle = await page.title();
  result.consentText = await page.locator('body').innerText();
  await page.screenshot({ path: args.screenshot, fullPage: true });

  // Framing: load the same consent URL inside an iframe of another origin.
  const consentUrl = page.url();
  const framer = await context.newPage();
  args.consentUrlForFrame = consentUrl;
  await framer.goto(`${args.redirectPrefix}/frame-test`, { waitUntil: 'load' });
  const frame = framer.frames().find((f) => f !== framer.mainFrame());
  let framedForm = 0;
  try {
    framedForm = frame ? await frame.locator('form[action="/consent"]').count() : 0;
  } catch {
    framedForm = 0;
  }
  result.framed = framedForm > 0;
  result.frameUrl = frame ? frame.url() : null;
  await framer.close();

  await answerConsent(page, args.decision);
  if (args.username) {
    await page.waitForSelector('#username', { timeout: 20000 });
    await page.fill('#username', args.username);
    await page.click('#signin');
  }
  await page.waitForURL((url) => url.href.startsWith(args.redirectPrefix), { timeout: 20000 });
  result.finalUrl = landed || page.url();
  result.cookies = (await context.cookies()).map((c) => ({ name: c.name, domain: c.domain, secure: c.secure, httpOnly: c.httpOnly, sameSite: c.sameSite }));
} catch (e) {
  result.error = String(e && e.stack || e);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(result));
