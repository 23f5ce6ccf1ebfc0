// The emailed links as a person uses them (see scripts/browser-check.sh, which runs this against a
// fresh server with PLANOAUTH_URL, PLANOAUTH_BIN and PLANOAUTH_DATA_DIR set). Each flow asks the
// API for an email, reads it from the local mailer with `planoauth emails list/show`, opens its
// link twice in Chromium (a mail scanner, then the owner) and checks that the link still works,
// presses the page's button, and ends signed in the way the application would be. Screenshots of
// every page go to $LINKS_SCREENSHOTS.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { chromium } from "playwright-core";

const base = process.env.PLANOAUTH_URL;
const bin = process.env.PLANOAUTH_BIN;
const shots = process.env.LINKS_SCREENSHOTS ?? "docs";
assert.ok(base && bin, "run me with scripts/with-server.sh (PLANOAUTH_URL and PLANOAUTH_BIN)");

const password = "correct horse battery staple";
const newPassword = "many unrelated words beat one";
const liaisonPassword = "a liaison picks her own words";
// What the flows learn as they go: ada's client id (registration) and a session of hers.
const ada = {};

// api posts to the API: JSON, or a sensitive body (base64 of the JSON) when sensitive is set.
async function api(path, params, { sensitive = false, token } = {}) {
  const headers = { "Content-Type": sensitive ? "text/plain" : "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const json = JSON.stringify(params);
  const res = await fetch(base + path, {
    method: "POST", headers, body: sensitive ? Buffer.from(json, "utf8").toString("base64") : json,
  });
  return { code: res.status, body: await res.json() };
}

function expectStatus(res, code, status, what) {
  assert.equal(`${res.code} ${res.body.status}`, `${code} ${status}`, `${what}: ${JSON.stringify(res.body)}`);
  return res.body;
}

// planoauth runs the operator tool on the server's database.
function planoauth(...args) {
  return execFileSync(bin, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

// lastEmailId is the newest email's id (0 when none).
function lastEmailId() {
  const row = planoauth("emails", "list", "--limit", "1").split("\n")[1] ?? "";
  return Number(row.split(/\s+/)[0]) || 0;
}

// waitForEmail returns the body of the first email of kind to `to` newer than `after`. Reset
// emails are sent after their answer, so it asks again a few times.
async function waitForEmail(kind, to, after) {
  for (let i = 0; i < 100; i++) {
    for (const row of planoauth("emails", "list", "--limit", "20").split("\n").slice(1)) {
      const [id, , k, recipient] = row.split(/\s+/);
      if (Number(id) > after && k === kind && recipient === to) return planoauth("emails", "show", id);
    }
    await sleep(100);
  }
  throw new Error(`no ${kind} email to ${to}`);
}

function linkIn(body, page) {
  const m = body.match(new RegExp(`^${base}${page}\\?token=pam_[A-Za-z0-9_-]{43}$`, "m"));
  assert.ok(m, `the email holds no ${page} link to ${base}:\n${body}`);
  return m[0];
}

// codeIn is the 8-digit code a link email carries for another device (shown as two groups).
function codeIn(body) {
  const m = body.match(/this code[^:\n]* instead: (\d{4}) (\d{4})$/m);
  assert.ok(m, `the email holds no code:\n${body}`);
  return m[1] + m[2];
}

let step = 0;
async function shot(page, name) {
  await page.screenshot({ path: `${shots}/links-${name}.png`, fullPage: true });
  console.log(`links-check: screenshot ${shots}/links-${name}.png`);
  step++;
}

// openTwice opens a link as a mail scanner would and then as its owner: both see the page with
// its button, which only a used link would not show.
async function openTwice(context, link, heading) {
  for (const who of ["a mail scanner", "the owner"]) {
    const page = await context.newPage();
    const res = await page.goto(link);
    assert.equal(res.status(), 200, `${who} opening ${link}`);
    assert.equal(await page.locator("h1").textContent(), heading, `${who} sees the page`);
    assert.equal(await page.locator("form button").count(), 1, `${who} sees the button: the link is still usable`);
    if (who === "the owner") return page;
    await page.close();
  }
}

// signedIn reads the sign-in token the page handed to the application's page and exchanges it,
// as the application would.
async function signedIn(page, appPath) {
  await page.waitForURL(`${base}${appPath}?**`);
  const token = new URL(page.url()).searchParams.get("magic_token");
  const res = await api("/api/v1/sessions/magic_link_create", { magic_token: token, application: "planoorder" }, { sensitive: true });
  return expectStatus(res, 200, "action-successful", "the application exchanges the hand-over token").data;
}

const flows = {
  async reset(context) {
    const after = lastEmailId();
    expectStatus(await api("/api/v1/sessions/password_reset_request",
      { email: "ada@example.com", application: "planoorder", redirect_url: `${base}/app/welcome` }), 200, "action-successful", "reset request");
    const body = await waitForEmail("password_reset", "ada@example.com", after);
    assert.match(body, /enter this code with your email instead: \d{4} \d{4}/, "the email carries a code");
    const page = await openTwice(context, linkIn(body, "/reset"), "Choose a new password");
    await shot(page, "reset");
    await page.fill("#password", "password123");
    await page.fill("#password_repeat", "password123");
    await page.click("form button");
    assert.match(await page.locator(".field-error").textContent(), /too easy to guess/);
    await shot(page, "reset-weak");
    await page.fill("#password", newPassword);
    await page.fill("#password_repeat", newPassword);
    await page.click("form button");
    const session = await signedIn(page, "/app/welcome");
    assert.equal(session.user.email, "ada@example.com");
    ada.session = expectStatus(await api("/api/v1/sessions/create", { email: "ada@example.com", password: newPassword, application: "planoorder" },
      { sensitive: true }), 200, "action-successful", "signing in with the new password").data.token;
    expectStatus(await api("/api/v1/sessions/create", { email: "ada@example.com", password, application: "planoorder" },
      { sensitive: true }), 400, "invalid-password", "signing in with the old password");
  },

  // The reset is told to ada by a security email, queued with it: what happened, and a plain
  // link (no token) to the reset page, which asks for her email and sends a new reset link.
  async notice(context) {
    const body = await waitForEmail("password_changed", "ada@example.com", 0);
    assert.doesNotMatch(body, /token=|pam_|pas_|pad_/, "the notice carries no token");
    const m = body.match(new RegExp(`^${base}/reset\\?application=planoorder$`, "m"));
    assert.ok(m, `the notice holds no plain link to the reset page:\n${body}`);
    const after = lastEmailId();
    const page = await context.newPage();
    assert.equal((await page.goto(m[0])).status(), 200, "opening the notice's link");
    assert.equal(await page.locator("h1").textContent(), "Reset your password");
    await shot(page, "notice-reset");
    await page.fill("#email", "ada@example.com");
    await page.click("form button");
    assert.equal(await page.locator("h1").textContent(), "Check your email");
    await shot(page, "notice-reset-sent");
    linkIn(await waitForEmail("password_reset", "ada@example.com", after), "/reset");
  },

  async magic(context) {
    const after = lastEmailId();
    expectStatus(await api("/api/v1/sessions/magic_link_request",
      { email: "ada@example.com", application: "planoorder", redirect_url: `${base}/app/signed-in` }), 200, "action-successful", "link request");
    const link = linkIn(await waitForEmail("magic_link", "ada@example.com", after), "/magic");
    const page = await openTwice(context, link, "Sign in to PlanoOrder");
    assert.match(await page.locator("main").textContent(), /type your email and the 8-digit code from the same email in PlanoOrder/);
    await shot(page, "magic");
    await page.click("form button");
    const session = await signedIn(page, "/app/signed-in");
    assert.equal(session.role, "client");
    const again = await context.newPage();
    await again.goto(link);
    assert.equal(await again.locator("h1").textContent(), "This link was used already");
    await shot(again, "used");
    // On another device, the next email's code signs in instead, and that uses its link too.
    const next = lastEmailId();
    expectStatus(await api("/api/v1/sessions/magic_link_request", { email: "ada@example.com", application: "planoorder" }),
      200, "action-successful", "second link request");
    const body = await waitForEmail("magic_link", "ada@example.com", next);
    const byCode = expectStatus(await api("/api/v1/sessions/magic_link_create", { email: "ada@example.com", code: codeIn(body), application: "planoorder" },
      { sensitive: true }), 200, "action-successful", "signing in with the code").data;
    assert.equal(byCode.role, "client");
    const usedByCode = await context.newPage();
    await usedByCode.goto(linkIn(body, "/magic"));
    assert.equal(await usedByCode.locator("h1").textContent(), "This link was used already", "the code used its link");
  },

  // Ada (whose email the reset proved) invites a liaison; the invitation is queued and sent by
  // the outbox worker. The invitee chooses her password on the page and signs in with it.
  async invitation(context) {
    assert.ok(ada.session, "the reset flow signs ada in first");
    const after = lastEmailId();
    expectStatus(await api("/api/v1/liaisons/register", { liaison: { email: "lia@example.com", first_name: "Lia" }, client_ids: [ada.client] },
      { sensitive: true, token: ada.session }), 200, "action-successful", "inviting a liaison");
    const page = await openTwice(context, linkIn(await waitForEmail("invitation", "lia@example.com", after), "/invite"),
      "Accept your invitation to PlanoOrder");
    await shot(page, "invite");
    await page.fill("#password", liaisonPassword);
    await page.fill("#password_repeat", liaisonPassword);
    await page.click("form button");
    assert.equal(await page.locator("h1").textContent(), "Your invitation is accepted");
    await shot(page, "invite-done");
    // The liaison role took effect: planox2 (liaisons and employees only) lets her in.
    const session = expectStatus(await api("/api/v1/sessions/create", { email: "lia@example.com", password: liaisonPassword, application: "planox2" },
      { sensitive: true }), 200, "action-successful", "the invitee signs in with the password she chose").data;
    assert.equal(session.role, "liaison");
  },

  // Grace registers and confirms her email with the welcome's link, giving her password on the
  // page to keep her account: a wrong one is refused (the link stays usable), the right one keeps
  // everything, and she still signs in with it.
  async verify(context) {
    const after = lastEmailId();
    expectStatus(await api("/api/v1/clients/register", {
      application: "planoorder", client: { email: "grace@example.com", password, first_name: "Grace" },
    }, { sensitive: true }), 200, "action-successful", "registration");
    const page = await openTwice(context, linkIn(await waitForEmail("welcome", "grace@example.com", after), "/verify"),
      "Confirm your email address");
    assert.match(await page.locator("main").textContent(), /If you created this account, enter its password to keep it\./);
    assert.match(await page.locator("main").textContent(), /8-digit code from the same email/);
    await shot(page, "verify");
    await page.fill("#current_password", "not the password at all");
    await page.click("form button");
    assert.match(await page.locator(".field-error").textContent(), /not the account's password/);
    await shot(page, "verify-wrong");
    await page.fill("#current_password", password);
    await page.click("form button");
    assert.equal(await page.locator("h1").textContent(), "Your email address is confirmed");
    const session = expectStatus(await api("/api/v1/sessions/create", { email: "grace@example.com", password, application: "planoorder" },
      { sensitive: true }), 200, "action-successful", "the registrant signs in with the password she kept").data;
    assert.equal(session.user.email_verified, true);
  },
};

async function main() {
  ada.client = expectStatus(await api("/api/v1/clients/register", {
    application: "planoorder", client: { email: "ada@example.com", password, first_name: "Ada", last_name: "Lovelace" },
  }, { sensitive: true }), 200, "action-successful", "registration").data.client.id;

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run", "--no-proxy-server",
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"],
  });
  let passed = 0;
  let failed = 0;
  try {
    // A phone: the pages must be usable there.
    const context = await browser.newContext({ viewport: { width: 390, height: 760 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    // The application behind redirect_url: a page that receives the hand-over token.
    await context.route(`${base}/app/**`, (route) => route.fulfill({ contentType: "text/html", body: "<h1>The application</h1>" }));
    for (const [name, flow] of Object.entries(flows)) {
      try {
        await flow(context);
        console.log(`links-check: ${name}: ok`);
        passed++;
      } catch (err) {
        console.error(`links-check: ${name}: FAILED: ${err.stack ?? err}`);
        failed++;
      }
    }
  } finally {
    await browser.close();
  }
  console.log(`links-check: ${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
}

await main();
