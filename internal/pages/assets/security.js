// The /security page (internal/pages/security.go): sign in with a password and a second factor,
// or with a passkey alone, and manage second factors, through the API with fetch. WebAuthn needs
// JavaScript; this file is all of it, served from the same origin (the page's policy allows no
// other script). The session token is kept in this script's memory only.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const page = $("page");
  const application = page.dataset.application;
  const passkeyOrigins = (page.dataset.passkeyOrigins || "").split(" ").filter(Boolean);
  const passkeysHere = passkeyOrigins.includes(location.origin) && "PublicKeyCredential" in window;
  let token = null;

  // What each refusal means, in plain words.
  const words = {
    "invalid-password": "That password is not right.",
    "email-not-found": "No account has that email.",
    "user-has-no-password": "This account has no password: sign in with a passkey or an emailed link.",
    "user-requires-role": "This account cannot use this application.",
    "invalid-code": "That code is not right, or was used already. Wait for the next one.",
    "invalid-passkey": "The passkey was not accepted. Try again.",
    "rate-limited": "Too many attempts. Wait a little, then try again.",
    "mfa-method-unavailable": "This server does not offer that method.",
    "invalid-token": "You were signed out.",
    "session-expired": "Your session expired: sign in again.",
    "permission-denied": "Changing second factors needs a recent proof: sign in again, or use your second factor again.",
  };

  // Base64url, the form WebAuthn's binary fields take in the API's JSON.
  const toB64url = (buffer) => {
    let binary = "";
    new Uint8Array(buffer).forEach((b) => { binary += String.fromCharCode(b); });
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  const fromB64url = (text) => {
    let s = text.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  };
  // A sensitive body: base64 of the JSON's UTF-8 bytes.
  const sensitive = (params) => {
    let binary = "";
    new TextEncoder().encode(JSON.stringify(params)).forEach((b) => { binary += String.fromCharCode(b); });
    return btoa(binary);
  };

  async function api(path, params, { get = false, secret = false } = {}) {
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    const init = { method: get ? "GET" : "POST", headers, credentials: "omit", cache: "no-store" };
    if (!get) {
      headers["Content-Type"] = secret ? "text/plain" : "application/json";
      init.body = secret ? sensitive(params) : JSON.stringify(params || {});
    }
    const res = await fetch(path, init);
    return res.json();
  }

  function say(text) {
    $("message").textContent = text;
    $("message").hidden = !text;
  }
  // What a refused removal of a passkey means to a session that did not prove the password (a
  // passkey alone), and the way out (README, Second factors): such sessions share one allowance of
  // password attempts, which the holder of a copy of the passkey may have spent; and the password
  // may be one set from a copy's session, which the owner does not know.
  const removalWords = {
    "rate-limited": "Too many password attempts from sessions that signed in with a passkey alone. "
      + "Sign out, sign in with your password instead (that session has attempts of its own), then remove the passkey.",
    "invalid-password": "That password is not right. If you do not know it (it may have been set from a copy of "
      + "your passkey), reset it by email, then remove the passkey.",
  };
  const refused = (answer, own = {}) => say(own[answer.status] || words[answer.status] || answer.message || "Something went wrong.");

  function show(section, title) {
    for (const id of ["signin", "second", "account"]) $(id).hidden = id !== section;
    $("title").textContent = title;
  }

  function showSignIn() {
    token = null;
    show("signin", "Sign in");
  }

  // signedIn takes the answer of a sign-in (or of a limited session's call) and goes on.
  async function signedIn(answer) {
    switch (answer.status) {
      case "action-successful":
        token = answer.data.token || token;
        return showAccount();
      case "mfa-required":
        token = answer.data.token || token;
        show("second", "One more step");
        return $("code").focus();
      case "mfa-enrolment-required":
        token = answer.data.token || token;
        await showAccount();
        return say("This application asks for a second factor: set up an authenticator app or a passkey.");
      default:
        return refused(answer);
    }
  }

  async function showAccount() {
    const [session, factors] = await Promise.all([api("/api/v1/sessions/read", null, { get: true }),
      api("/api/v1/mfa/index", null, { get: true })]);
    if (session.status !== "action-successful" || factors.status !== "action-successful") {
      return session.status === "invalid-token" || session.status === "session-expired" ? (showSignIn(), refused(session)) : refused(factors);
    }
    say("");
    const s = session.data;
    const methods = (s.methods || []).join(", ");
    const status = $("status");
    status.textContent = `Signed in as ${s.user.email}. Level: ${s.aal}${methods ? ` (${methods})` : ""}.`;
    status.dataset.aal = s.aal;
    status.dataset.methods = methods;
    show("account", "Sign-in and security");
    renderFactors(factors.data, s.user.has_password);
  }

  // removing is the passkey whose removal waits for the password (remove-form).
  let removing = null;

  async function removePasskey(params) {
    const answer = await api("/api/v1/mfa/passkey_delete", params, { secret: true });
    if (answer.status !== "action-successful") {
      const provedPassword = ($("status").dataset.methods || "").split(", ").includes("pwd");
      return refused(answer, provedPassword ? {} : removalWords);
    }
    $("remove-form").hidden = true;
    $("remove-password").value = "";
    removing = null;
    // Removing a passkey ends the sessions that used it, this one too when it signed in or
    // completed its second factor with it (mfa/passkey_delete).
    if (answer.data.session_ended) {
      showSignIn();
      return say("The passkey is removed. This session used it, so it ended too: sign in again.");
    }
    return showAccount();
  }

  // hasPassword: whether the user has a password, which every removal of a passkey then asks for.
  function renderFactors(f, hasPassword) {
    if (!f.passkeys.some((pk) => pk.id === removing)) {
      $("remove-form").hidden = true;
      removing = null;
    }
    $("totp-state").textContent = f.totp.enabled ? "On: sign-ins ask for a code from your app." : "Off.";
    $("totp-start").hidden = f.totp.enabled;
    if (f.totp.enabled) $("totp-setup").hidden = true;
    const list = $("passkeys");
    list.replaceChildren();
    for (const pk of f.passkeys) {
      const item = document.createElement("li");
      item.textContent = `${pk.name}, added ${pk.created_at.slice(0, 10)} `;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "secondary link";
      remove.textContent = "Remove";
      remove.addEventListener("click", () => guarded(async () => {
        // A user with a password gives it to remove any passkey (mfa/passkey_delete: a copy of
        // one passkey must not remove the others): the form below the list asks for it.
        if (hasPassword) {
          removing = pk.id;
          $("remove-form").hidden = false;
          $("remove-password").focus();
          return;
        }
        await removePasskey({ id: pk.id });
      }));
      item.append(remove);
      list.append(item);
    }
    if (f.passkeys.length === 0) {
      const none = document.createElement("li");
      none.textContent = "None yet.";
      list.append(none);
    }
    $("recovery-state").textContent = f.recovery_codes.created_at
      ? `${f.recovery_codes.remaining} of 10 left.` : "You get ten when you add a first second factor.";
  }

  function showRecoveryCodes(codes) {
    if (!codes) return;
    const list = $("recovery-codes");
    list.replaceChildren(...codes.map((code) => Object.assign(document.createElement("li"), { textContent: code })));
    $("recovery-new").hidden = false;
  }

  // WebAuthn options from the API's JSON (base64url) to what the browser takes, and back.
  function creationOptions(pk) {
    return { ...pk, challenge: fromB64url(pk.challenge), user: { ...pk.user, id: fromB64url(pk.user.id) },
      excludeCredentials: (pk.excludeCredentials || []).map((c) => ({ ...c, id: fromB64url(c.id) })) };
  }
  function requestOptions(pk) {
    return { ...pk, challenge: fromB64url(pk.challenge),
      allowCredentials: (pk.allowCredentials || []).map((c) => ({ ...c, id: fromB64url(c.id) })) };
  }
  function credentialJSON(cred) {
    const r = cred.response;
    const response = { clientDataJSON: toB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64url(r.attestationObject);
      if (r.getTransports) response.transports = r.getTransports();
    } else {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      if (r.userHandle) response.userHandle = toB64url(r.userHandle);
    }
    const out = { id: cred.id, rawId: toB64url(cred.rawId), type: cred.type, response,
      clientExtensionResults: cred.getClientExtensionResults() };
    if (cred.authenticatorAttachment) out.authenticatorAttachment = cred.authenticatorAttachment;
    return out;
  }

  // getPasskey runs an authentication ceremony begun at beginPath and returns the credential.
  async function getPasskey(beginPath, params) {
    const begun = await api(beginPath, params);
    if (begun.status !== "action-successful") return refused(begun);
    const cred = await navigator.credentials.get({ publicKey: requestOptions(begun.data.options.publicKey) });
    return credentialJSON(cred);
  }

  // guarded runs an action, saying what went wrong instead of failing silently.
  async function guarded(action) {
    try {
      await action();
    } catch (err) {
      say(err && err.name === "NotAllowedError" ? "The passkey request was cancelled." : `Something went wrong: ${err}`);
    }
  }
  const onSubmit = (id, action) => $(id).addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(action);
  });
  const onClick = (id, action) => $(id).addEventListener("click", () => guarded(action));

  onSubmit("remove-form", () => removePasskey({ id: removing, password: $("remove-password").value }));
  onSubmit("password-form", async () => {
    say("");
    signedIn(await api("/api/v1/sessions/create", { email: $("email").value, password: $("password").value, application }, { secret: true }));
  });
  onClick("passkey-signin", async () => {
    say("");
    const credential = await getPasskey("/api/v1/sessions/passkey_begin", { application });
    if (credential) signedIn(await api("/api/v1/sessions/passkey_finish", { credential, application }, { secret: true }));
  });
  onSubmit("code-form", async () => signedIn(await api("/api/v1/mfa/totp_verify", { code: $("code").value }, { secret: true })));
  onSubmit("recovery-form", async () => signedIn(await api("/api/v1/mfa/recovery_code_verify", { code: $("recovery").value }, { secret: true })));
  onClick("second-passkey", async () => {
    const credential = await getPasskey("/api/v1/mfa/passkey_verify_begin", {});
    if (credential) signedIn(await api("/api/v1/mfa/passkey_verify_finish", { credential }, { secret: true }));
  });
  onClick("totp-start", async () => {
    const answer = await api("/api/v1/mfa/totp_enroll", {});
    if (answer.status !== "action-successful") return refused(answer);
    $("totp-qr").src = `data:image/png;base64,${answer.data.qr_png}`;
    $("totp-secret").textContent = answer.data.secret;
    $("totp-setup").hidden = false;
    $("totp-start").hidden = true;
    $("totp-code").focus();
  });
  onSubmit("totp-form", async () => {
    const answer = await api("/api/v1/mfa/totp_confirm", { code: $("totp-code").value }, { secret: true });
    if (answer.status !== "action-successful") return refused(answer);
    $("totp-code").value = "";
    await showAccount();
    showRecoveryCodes(answer.data.recovery_codes);
  });
  onClick("passkey-add", async () => {
    const begun = await api("/api/v1/mfa/passkey_register_begin", {});
    if (begun.status !== "action-successful") return refused(begun);
    const cred = await navigator.credentials.create({ publicKey: creationOptions(begun.data.options.publicKey) });
    const answer = await api("/api/v1/mfa/passkey_register_finish", { credential: credentialJSON(cred), name: "This device" }, { secret: true });
    if (answer.status !== "action-successful") return refused(answer);
    await showAccount();
    showRecoveryCodes(answer.data.recovery_codes);
  });
  onClick("signout", async () => {
    await api("/api/v1/sessions/delete", {});
    $("recovery-new").hidden = true;
    showSignIn();
  });

  // Passkeys work only at the relying party's origins: elsewhere, say where.
  for (const el of document.querySelectorAll(".passkey-only")) el.hidden = !passkeysHere;
  for (const el of document.querySelectorAll(".passkey-elsewhere")) el.hidden = passkeysHere || passkeyOrigins.length === 0;
  for (const el of document.querySelectorAll(".passkey-origin")) el.textContent = `${passkeyOrigins[0] || ""}${location.pathname}${location.search}`;
  showSignIn();
})();
