// A typed PlanoAuth client: openapi-fetch over the types openapi-typescript generates from the
// contract (gen/schema.ts, made by `make test-sdk`).
import createClient from "openapi-fetch";
import type { components, operations, paths } from "./gen/schema.js";
import { encodeParams } from "./encode.js";

export type { components, operations, paths };

export function planoauth(baseUrl: string) {
  return createClient<paths>({ baseUrl });
}

/**
 * The operations whose body is sensitive: a (required) text/plain body, the base64 of their
 * parameters. Found in the generated types, not listed by hand.
 */
export type SensitiveOperation = {
  [Op in keyof operations]: operations[Op] extends { requestBody: { content: { "text/plain": unknown } } } ? Op : never;
}[keyof operations];

/**
 * The decoded parameters of a sensitive operation. The contract names them after the operation
 * (sessionsCreate decodes a SessionsCreateInput); if an operation broke that rule, this type
 * would not compile.
 */
export type SensitiveInput<Op extends SensitiveOperation> = components["schemas"][`${Capitalize<Op>}Input`];

/**
 * The request options of a sensitive route for openapi-fetch: the base64 of the operation's
 * typed parameters, sent as text/plain. The operation is named by its operationId:
 * `api.POST("/api/v1/sessions/create", sensitive("sessionsCreate", { email, password, application }))`.
 */
export function sensitive<Op extends SensitiveOperation>(_operation: Op, params: SensitiveInput<Op>) {
  return {
    body: encodeParams(params),
    bodySerializer: (body: string) => body,
    headers: { "Content-Type": "text/plain" },
  };
}

export function bearer(token: string) {
  return { Authorization: `Bearer ${token}` };
}
