// The PlanoAuth client that @hey-api/openapi-ts generates from the contract (gen/hey, made by
// `make test-sdk`): one function per operation, with the fetch client it bundles.
import { createClient } from "./gen/hey/client/index.js";
import { encodeParams } from "./encode.js";

export * from "./gen/hey/index.js";

/** A client of the server at baseUrl, to pass as `client` to each operation's function. */
export function connect(baseUrl: string) {
  return createClient({ baseUrl });
}

/**
 * The text/plain body of a sensitive route: the base64 of its parameters, whose type must be
 * given and is named after the operation, `sensitiveBody<SessionsCreateInput>({ ... })` for
 * sessionsCreate. The generated functions already send it as text/plain.
 */
export function sensitiveBody<Input extends object = never>(params: NoInfer<Input>): string {
  return encodeParams(params);
}
