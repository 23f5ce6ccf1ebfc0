// A typed PlanoAuth client: openapi-fetch over the types openapi-typescript generates from the
// contract (gen/schema.ts, made by `make test-sdk`).
import createClient from "openapi-fetch";
import type { paths } from "./gen/schema.js";

export type { paths };

export function planoauth(baseUrl: string) {
  return createClient<paths>({ baseUrl });
}

/** The body of a sensitive route: the base64 of its parameters' JSON, sent as text/plain. */
export function sensitive(params: object) {
  return {
    body: Buffer.from(JSON.stringify(params)).toString("base64"),
    bodySerializer: (body: string) => body,
    headers: { "Content-Type": "text/plain" },
  };
}

export function bearer(token: string) {
  return { Authorization: `Bearer ${token}` };
}
