// The /security page as a person uses it (see scripts/browser-check.sh, which runs this against a
// fresh server with PLANOAUTH_URL set): in Chromium, with the DevTools WebAuthn domain's virtual
// authenticator standing in for a phone's (a platform authenticator that holds discoverable
// credentials and verifies its user), a user signs in with its password, sets up an
// authenticator app with a code this test computes (RFC 6238), adds a passkey, signs in with the
// passkey alone, and then with its password and each second factor in turn: a TOTP code, the
// passkey, a recovery code; then, with the app turned off, it removes its last passkey, which
// asks for its password and ends the session that signed in with it; last, a passkey's removal
// refused for too many password attempts (sessions of a passkey alone share them) is made from a
// password session, as the page says. Each sign-in's level and methods are read from the page.
// Screenshots go to $MFA_SCREENSHOTS.
//
// WebAuthn needs a secure context and a relying party id that is a domain: the page is opened at
// http://localhost (the server's public URL is http://127.0.0.1:PORT, whose relying party is
// localhost).
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { chromium } from "playwright-core";

const api = process.env.PLANOAUTH_URL;
assert.ok(api, "run me with scripts/with-server.sh (PLANOAUTH_URL)");
const base = api.replace("://127.0.0.1:", "://localhost:");
const shots = process.env.MFA_SCREENSHOTS ?? "docs";
const email = "ada@example.com";
const password = "correct horse battery staple";

// totp is the RFC 6238 code of a base32 secret at a 30-second step (SHA-1, 6 digits).
function totp(secret, step) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of secret.replace(/=+$/, "")) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", key).update(counter).digest();
  const offset = mac[mac.length - 1] & 15;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}
const stepNow = () => Math.floor(Date.now() / 30_000);

async function post(path, params, sensitive, token) {
  const json = JSON.stringify(params);
  const headers = { "Content-Type": sensitive ? "text/plain" : "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(api + path, {
    method: "POST", headers,
    body: sensitive ? Buffer.from(json, "utf8").toString("base64") : json,
  });
  return { code: res.status, body: await res.json() };
}

async function shot(page, name) {
  await page.screenshot({ path: `${shots}/mfa-${name}.png`, fullPage: true });
  console.log(`mfa-check: screenshot ${shots}/mfa-${name}.png`);
}

// level waits for the account section and returns what the page says of the session.
async function level(page) {
  await page.locator("#account").waitFor({ state: "visible" });
  const status = page.locator("#status");
  await status.and(page.locator("[data-aal]")).waitFor();
  return `${await status.getAttribute("data-aal")} ${await status.getAttribute("data-methods")}`;
}

async function signInWithPassword(page) {
  await page.locator("#signin").waitFor({ state: "visible" });
  await page.fill("#email", email);
  await page.fill("#password", password);
  await page.click("#password-form button[type=submit]");
}

async function signOut(page) {
  await page.click("#signout");
  await page.locator("#signin").waitFor({ state: "visible" });
}

const flows = {
  async "set up an authenticator app with a computed code"(page, state) {
    await signInWithPassword(page);
    assert.equal(await level(page), "aal1 pwd", "a password is one factor");
    await page.click("#totp-start");
    await page.locator("#totp-setup").waitFor({ state: "visible" });
    const secret = (await page.locator("#totp-secret").textContent()).trim();
    assert.match(secret, /^[A-Z2-7]{32}$/, "the key is shown in base32");
    assert.match(await page.locator("#totp-qr").getAttribute("src"), /^data:image\/png;base64,/, "the QR code is shown");
    await shot(page, "totp-setup");
    state.secret = secret;
    state.step = stepNow();
    await page.fill("#totp-code", totp(secret, state.step));
    await page.click("#totp-form button[type=submit]");
    await page.locator("#recovery-new").waitFor({ state: "visible" });
    state.recoveryCodes = await page.locator("#recovery-codes li").allTextContents();
    assert.equal(state.recoveryCodes.length, 10, "ten recovery codes are shown once");
    assert.equal(await level(page), "aal2 pwd, otp", "confirming the app makes the session aal2");
    await shot(page, "recovery-codes");
  },

  async "add a passkey"(page) {
    await page.click("#passkey-add");
    await page.locator("#passkeys li", { hasText: "This device" }).waitFor();
    await shot(page, "account");
    await signOut(page);
  },

  async "sign in with the passkey alone"(page) {
    await page.click("#passkey-signin");
    assert.equal(await level(page), "aal2 webauthn", "a passkey that verified its user is two factors");
    await shot(page, "passkey-signin");
    await signOut(page);
  },

  async "password, then a TOTP code"(page, state) {
    await signInWithPassword(page);
    await page.locator("#second").waitFor({ state: "visible" });
    await shot(page, "second-factor");
    // The code of a step the confirmation did not use: the next one (codes of the step before
    // and after are accepted), or later if time moved on.
    const step = Math.max(stepNow(), state.step) + 1;
    await page.fill("#code", totp(state.secret, step));
    await page.click("#code-form button[type=submit]");
    assert.equal(await level(page), "aal2 pwd, otp");
    await signOut(page);
    // The same code again is refused: each code works once.
    await signInWithPassword(page);
    await page.locator("#second").waitFor({ state: "visible" });
    await page.fill("#code", totp(state.secret, step));
    await page.click("#code-form button[type=submit]");
    await page.locator("#message", { hasText: "used already" }).waitFor();
  },

  async "password, then the passkey"(page) {
    await page.click("#second-passkey");
    assert.equal(await level(page), "aal2 pwd, webauthn");
    await signOut(page);
  },

  async "password, then a recovery code"(page, state) {
    await signInWithPassword(page);
    await page.locator("#second").waitFor({ state: "visible" });
    await page.click("#second summary");
    await page.fill("#recovery", state.recoveryCodes[0].toUpperCase());
    await page.click("#recovery-form button[type=submit]");
    assert.equal(await level(page), "aal2 pwd, recovery_code");
    await page.locator("#recovery-state", { hasText: "9 of 10 left" }).waitFor();
    await signOut(page);
  },

  async "remove the last passkey with the password"(page, state) {
    // The app goes first, through the API (the page offers no way to turn it off), from a
    // session that completed its sign-in with a recovery code: the passkey is then the last
    // second factor.
    const signedIn = await post("/api/v1/sessions/create", { email, password, application: "planoorder" }, true);
    assert.equal(`${signedIn.code} ${signedIn.body.status}`, "401 mfa-required", JSON.stringify(signedIn.body));
    const token = signedIn.body.data.token;
    const verified = await post("/api/v1/mfa/recovery_code_verify", { code: state.recoveryCodes[1] }, true, token);
    assert.equal(`${verified.code} ${verified.body.status}`, "200 action-successful", JSON.stringify(verified.body));
    const off = await post("/api/v1/mfa/totp_disable", { password }, true, token);
    assert.equal(`${off.code} ${off.body.status}`, "200 action-successful", JSON.stringify(off.body));

    await page.click("#passkey-signin");
    assert.equal(await level(page), "aal2 webauthn");
    await page.click("#passkeys li button");
    await page.locator("#remove-form").waitFor({ state: "visible" });
    assert.equal(await page.locator("#remove-password").getAttribute("type"), "password", "the password is not shown");
    await page.fill("#remove-password", "not the password at all");
    await page.click("#remove-form button[type=submit]");
    // Signed in with the passkey alone: the page says what to do about a password she does not
    // know (one set from a copy of the passkey's session).
    await page.locator("#message", { hasText: "That password is not right. If you do not know it" }).waitFor();
    await page.locator("#message", { hasText: "reset it by email, then remove the passkey." }).waitFor();
    await page.locator("#passkeys li", { hasText: "This device" }).waitFor();
    await shot(page, "remove-last");
    await page.fill("#remove-password", password);
    await page.click("#remove-form button[type=submit]");
    // This session signed in with the passkey: removing it ended the session too.
    await page.locator("#message", { hasText: "it ended too: sign in again" }).waitFor();
    await page.locator("#signin").waitFor({ state: "visible" });
    // With no second factor left, the password alone signs in again.
    await signInWithPassword(page);
    assert.equal(await level(page), "aal1 pwd");
    await page.locator("#passkeys li", { hasText: "None yet." }).waitFor();
  },

  async "a removal refused for too many attempts, then made from a password session"(page) {
    // A passkey again, then a session of it alone, whose wrong passwords (with the one above)
    // spend the allowance that every session which did not prove the password shares, as the
    // holder of a copy of the passkey could: the page says the way out, which works.
    await page.click("#passkey-add");
    await page.locator("#passkeys li", { hasText: "This device" }).waitFor();
    await signOut(page);
    await page.click("#passkey-signin");
    assert.equal(await level(page), "aal2 webauthn");
    await page.click("#passkeys li button");
    await page.locator("#remove-form").waitFor({ state: "visible" });
    const message = page.locator("#message:not([hidden])");
    for (let guess = 1; ; guess++) {
      assert.ok(guess <= 12, "the removal was never refused for too many attempts");
      await page.evaluate(() => Object.assign(document.getElementById("message"), { textContent: "", hidden: true }));
      await page.fill("#remove-password", `a guess ${guess}`);
      await page.click("#remove-form button[type=submit]");
      await message.waitFor();
      const text = await message.textContent();
      if (text.startsWith("Too many")) break;
      assert.match(text, /^That password is not right\./);
    }
    await page.locator("#message", { hasText: "Sign out, sign in with your password instead (that session has attempts of its own), then remove the passkey." }).waitFor();
    await shot(page, "remove-refused");
    await signOut(page);
    await signInWithPassword(page);
    await page.click("#second-passkey");
    assert.equal(await level(page), "aal2 pwd, webauthn");
    await page.click("#passkeys li button");
    await page.fill("#remove-password", password);
    await page.click("#remove-form button[type=submit]");
    await page.locator("#message", { hasText: "it ended too: sign in again" }).waitFor();
    await signInWithPassword(page);
    assert.equal(await level(page), "aal1 pwd");
    await page.locator("#passkeys li", { hasText: "None yet." }).waitFor();
    await signOut(page);
  },
};

async function main() {
  const registered = await post("/api/v1/clients/register", {
    application: "planoorder", client: { email, password, first_name: "Ada", last_name: "Lovelace" },
  }, true);
  assert.equal(`${registered.code} ${registered.body.status}`, "200 action-successful", JSON.stringify(registered.body));

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run", "--no-proxy-server",
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"],
  });
  let passed = 0;
  let failed = 0;
  try {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    // A phone's authenticator: it keeps discoverable credentials and verifies its user; presence
    // is simulated, so every ceremony is answered at once.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("WebAuthn.enable");
    await cdp.send("WebAuthn.addVirtualAuthenticator", { options: {
      protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true } });
    const response = await page.goto(`${base}/security?application=planoorder`);
    assert.equal(response.status(), 200);
    assert.match(response.headers()["content-security-policy"], /script-src 'self'/);
    const state = {};
    for (const [name, flow] of Object.entries(flows)) {
      try {
        await flow(page, state);
        console.log(`mfa-check: ${name}: ok`);
        passed++;
      } catch (err) {
        console.error(`mfa-check: ${name}: FAILED: ${err.stack ?? err}`);
        failed++;
        break; // the flows follow each other
      }
    }
  } finally {
    await browser.close();
  }
  const skipped = Object.keys(flows).length - passed - failed;
  console.log(`mfa-check: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
  process.exitCode = failed === 0 ? 0 : 1;
}

await main();
