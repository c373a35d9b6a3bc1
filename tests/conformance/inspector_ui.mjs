// Drives the MCP Inspector web UI (2.12) in headless Chromium through the README's steps:
// Add Servers -> Add manually -> Server ID, Transport, URL -> Add -> connect switch -> Tools tab
// (through the gateway: consent page, Allow) -> Tools tab -> save_snippet -> arguments -> Execute Tool.
// A screenshot after each step.
//
// Usage: node inspector_ui.mjs '<json>'
//   { inspectorUrl, transport: "sse"|"streamable-http", serverUrl, serverId, snippetName, snippet, shots, prefix,
//     signIn: true when the server is behind the gateway, failedShot: where the page goes on failure }
// Prints one JSON object: { connected, tools, result }.
import { launchOptions } from '../../local/browser/chromium.mjs';
import { answerConsent } from '../../local/browser/person.mjs';

// playwright-core is installed by local/package.json; its path comes from the caller.
const { chromium } = await import(process.env.PLAYWRIGHT_CORE);

const a = JSON.parse(process.argv[2]);
const browser = await chromium.launch(launchOptions());
const out = {};
let step = 0;
const shot = async (page, name) => {
  step += 1;
  await page.screenshot({ path: `${a.shots}/${a.prefix}-${String(step).padStart(2, '0')}-${name}.png` });
};
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
try {
  page.setDefaultTimeout(20000);
  await page.goto(a.inspectorUrl);
  await page.getByRole('button', { name: 'Add Servers' }).click();
  await page.getByRole('menuitem', { name: /Add manually/ }).waitFor();
  await shot(page, 'add-servers');
  await page.getByRole('menuitem', { name: /Add manually/ }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Server ID').fill(a.serverId);
  await dialog.getByLabel('Transport').click();
  await page.getByRole('option', { name: new RegExp(`^${a.transport}`) }).click();
  await dialog.getByLabel('URL').fill(a.serverUrl);
  await shot(page, 'add-manually');
  await dialog.getByRole('button', { name: 'Add', exact: true }).click();
  await dialog.waitFor({ state: 'detached' });
  const card = page.locator('div')
    .filter({ has: page.getByText(a.serverId, { exact: true }) })
    .filter({ has: page.getByRole('switch') }).last();
  await card.getByRole('switch').click({ force: true });
  if (a.signIn) {
    // Through the gateway: the Inspector sends the browser to the consent page (this tab or a
    // new one); Allow; the Entra stand-in signs in by itself (auto-login) and returns to the Inspector.
    // Waits for the page's Allow button, never for a navigation: the Inspector sets
    // window.location.href for each sign-in it starts, and when a second start supersedes the
    // first, Chromium aborts the first navigation (net::ERR_ABORTED), which fails a navigation
    // wait although the page then lands on the consent page. A locator outlives navigations.
    const approve = (p) => p.locator('button[value="approve"]');
    const consent = await Promise.race([
      approve(page).waitFor().then(() => page),
      page.context().waitForEvent('page').then(async (p) => { await approve(p).waitFor(); return p; }),
    ]);
    if (!new URL(consent.url()).pathname.endsWith('/consent')) {
      throw new Error(`the Allow button is not on the consent page: ${consent.url()}`);
    }
    await shot(consent, 'consent');
    // As a person: the page enables Allow only after it has been seen and used for a moment.
    await answerConsent(consent, 'approve');
  }
  // Back on the Inspector (same tab or the first one), the card turns Connected; the locator waits
  // through the redirects back for the same reason as above.
  await card.getByText('Connected', { exact: true }).waitFor();
  out.connected = true;
  await shot(page, 'connected');
  await page.getByText('Tools', { exact: true }).first().click();
  await page.getByText('save_snippet', { exact: true }).first().click();
  out.tools = await page.getByRole('button').allInnerTexts();
  await page.getByRole('textbox', { name: /^snippetname/ }).fill(a.snippetName);
  await page.getByRole('textbox', { name: /^snippet(?!name)/ }).fill(a.snippet);
  await shot(page, 'tools-tab');
  await page.getByRole('button', { name: 'Execute Tool' }).click();
  // The tool pane turns into the call's Results, with the structured output.
  await page.getByText('Structured Output', { exact: true }).waitFor();
  out.result = await page.locator('body').innerText();
  await shot(page, 'executed');
} catch (e) {
  await page.screenshot({ path: a.failedShot });
  throw e;
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
