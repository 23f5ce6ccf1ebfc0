// End to end through the client @hey-api/openapi-ts generates, against a running server
// (scripts/with-server.sh provides PLANOAUTH_URL).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  clientsRegister, connect, sensitiveBody, sessionsCreate, sessionsDelete, sessionsRead,
  type ClientsRegisterInput, type SessionsCreateInput,
} from "./hey.js";

const url = process.env.PLANOAUTH_URL;
if (!url) throw new Error("PLANOAUTH_URL is not set; run through scripts/with-server.sh");
const client = connect(url);
const password = "correct horse battery staple";

test("@hey-api/openapi-ts: register a client, log in, read the session, log out", async () => {
  const email = `hey-${Date.now()}@example.com`;
  const registered = await clientsRegister({
    client,
    body: sensitiveBody<ClientsRegisterInput>({
      application: "planoorder",
      client: { email, password, first_name: "Hey", last_name: "Api" },
    }),
  });
  assert.equal(registered.response.status, 200, JSON.stringify(registered.error));
  assert.equal(registered.data?.status, "action-successful");
  assert.equal(registered.data?.data.client.email, email);

  const login = await sessionsCreate({
    client,
    body: sensitiveBody<SessionsCreateInput>({ email, password, application: "planoorder" }),
  });
  assert.equal(login.response.status, 200, JSON.stringify(login.error));
  const token = login.data?.data.token;
  assert.ok(token?.startsWith("pas_"), "a session token");

  // The generated functions send the token of the sessionToken scheme as a bearer token.
  const session = await sessionsRead({ client, auth: token });
  assert.equal(session.response.status, 200, JSON.stringify(session.error));
  assert.equal(session.data?.data.id, login.data?.data.id);
  assert.equal(session.data?.data.user?.email, email);

  const logout = await sessionsDelete({ client, auth: token, body: {} });
  assert.equal(logout.response.status, 200, JSON.stringify(logout.error));
  assert.equal(logout.data?.data.revoked, 1);

  const after = await sessionsRead({ client, auth: token });
  assert.equal(after.response.status, 401);
  assert.equal(after.error?.status, "invalid-token");
});

test("@hey-api/openapi-ts: a wrong password answers a documented slug", async () => {
  const email = `hey-wrong-${Date.now()}@example.com`;
  const registered = await clientsRegister({
    client,
    body: sensitiveBody<ClientsRegisterInput>({ application: "planoorder", client: { email, password } }),
  });
  assert.equal(registered.response.status, 200, JSON.stringify(registered.error));

  const login = await sessionsCreate({
    client,
    body: sensitiveBody<SessionsCreateInput>({ email, password: "not the password", application: "planoorder" }),
  });
  assert.equal(login.response.status, 400);
  assert.equal(login.error?.status, "invalid-password");
});
