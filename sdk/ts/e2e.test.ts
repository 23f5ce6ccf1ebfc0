// End to end through openapi-fetch over the types openapi-typescript generates, against a
// running server (scripts/with-server.sh provides PLANOAUTH_URL).
import { test } from "node:test";
import assert from "node:assert/strict";
import { bearer, planoauth, sensitive } from "./client.js";

const url = process.env.PLANOAUTH_URL;
if (!url) throw new Error("PLANOAUTH_URL is not set; run through scripts/with-server.sh");
const api = planoauth(url);
const password = "correct horse battery staple";

test("openapi-fetch: register a client, log in, read scopes and the session, log out", async () => {
  const email = `ts-${Date.now()}@example.com`;
  const registered = await api.POST("/api/v1/clients/register", sensitive("clientsRegister", {
    application: "planoorder",
    client: { email, password, first_name: "Type", last_name: "Script" },
  }));
  assert.equal(registered.response.status, 200, JSON.stringify(registered.error));
  assert.equal(registered.data?.status, "action-successful");
  assert.equal(registered.data?.data.client.email, email);

  const login = await api.POST("/api/v1/sessions/create", sensitive("sessionsCreate", { email, password, application: "planoorder" }));
  assert.equal(login.response.status, 200, JSON.stringify(login.error));
  const token = login.data?.data.token;
  assert.ok(token?.startsWith("pas_"), "a session token");

  // Registering proves nothing about the email: until it is proven, the client may grant nothing.
  const scopes = await api.GET("/api/v1/scopes/liaison_register", { headers: bearer(token!) });
  assert.equal(scopes.response.status, 200, JSON.stringify(scopes.error));
  assert.deepEqual(scopes.data?.data.clients, []);
  const session = await api.GET("/api/v1/sessions/read", { headers: bearer(token!) });
  assert.equal(session.response.status, 200, JSON.stringify(session.error));
  assert.equal(session.data?.data.user?.email_verified, false);
  assert.equal(session.data?.data.id, login.data?.data.id);
  assert.equal(session.data?.data.user?.email, email);

  const logout = await api.POST("/api/v1/sessions/delete", { headers: bearer(token!), body: {} });
  assert.equal(logout.data?.data.revoked, 1);

  const after = await api.GET("/api/v1/sessions/read", { headers: bearer(token!) });
  assert.equal(after.response.status, 401);
  assert.equal(after.error?.status, "invalid-token");
});

test("openapi-fetch: an unknown email answers a documented slug", async () => {
  const login = await api.POST("/api/v1/sessions/create", sensitive("sessionsCreate", {
    email: "nobody@example.com", password, application: "planoorder",
  }));
  assert.equal(login.response.status, 400);
  assert.equal(login.error?.status, "email-not-found");
});
