// How the browser tests launch Chromium: Debian's `chromium` (or $CHROMIUM), headless, with
// nothing running in the background (no sync, updates or first-run pages) that could make a
// run slower or reach for a network the tests do not have. --no-sandbox: Chromium refuses to
// start as root without it, and the test containers run as root.
//
// Shared by local/browser/consent.mjs and tests/conformance/inspector_ui.mjs; it imports no
// playwright itself, so each caller keeps its own way of loading playwright-core.
//
//   const browser = await chromium.launch(launchOptions());
export function launchOptions() {
  return {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run'],
  };
}
