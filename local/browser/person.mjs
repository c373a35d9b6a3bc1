// Answers the gateway's consent page the way a person does, for every browser test that signs
// in. The page keeps Allow disabled until it has been visible, focused and in use (a pointer
// or key event inside it) for names::CONSENT_DWELL_MS without a break, and the gateway refuses
// an approval sooner than that after serving the page (docs/policies.md, "Consent"). So: wait
// until the page is shown, move the pointer across it to the button like a reader would, wait
// until the button is enabled, then click it.
//
// It imports no playwright itself (the callers load playwright-core their own way); it works on
// any playwright Page.
//
//   await answerConsent(page, 'approve');   // or 'deny'

export const CONSENT_BUTTON = (decision) => `form[action="/consent"] button[value="${decision}"]`;

/** Waits until the consent page is visible and focused, reads it with the pointer, and clicks
 *  the button of `decision` once it is enabled. Returns the button's locator. */
export async function answerConsent(page, decision, { timeout = 20000 } = {}) {
  const button = page.locator(CONSENT_BUTTON(decision));
  await button.waitFor({ state: 'visible', timeout });
  await page.waitForFunction(() => document.visibilityState === 'visible' && document.hasFocus(), null, { timeout });
  const box = await button.boundingBox();
  // From the top of the page down to the button, in small steps: trusted pointer events inside
  // the page, which start its dwell.
  await page.mouse.move(box.x + box.width / 2, 10);
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2, { steps: 12 });
  await page.waitForFunction((selector) => !document.querySelector(selector).disabled, CONSENT_BUTTON(decision), { timeout });
  await button.click();
  return button;
}
