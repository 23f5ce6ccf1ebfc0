// Compiled, never run: shows that a sensitive body is built from the operation's typed
// parameters with both generators' types. If the helpers took any object, the @ts-expect-error
// lines would be unused and tsc would fail.
import { sensitive, type SensitiveInput, type SensitiveOperation } from "./client.js";
import { sensitiveBody, type SessionsCreateInput } from "./hey.js";

const email = "ada@example.com", password = "correct horse battery staple";

export function openapiTypescriptInputsAreTyped() {
  sensitive("sessionsCreate", { email, password, application: "planoorder", remember_me: true });
  // @ts-expect-error emial is not a parameter of sessions/create
  sensitive("sessionsCreate", { emial: email, password, application: "planoorder" });
  // @ts-expect-error admin is not a parameter of sessions/create, even beside the right ones
  sensitive("sessionsCreate", { email, password, application: "planoorder", admin: true });
  // @ts-expect-error password is required
  sensitive("sessionsCreate", { email, application: "planoorder" });
  // @ts-expect-error not an application of the Application enum
  sensitive("sessionsCreate", { email, password, application: "planoodle" });
  // @ts-expect-error the parameters of clients/register, not of sessions/create
  sensitive("sessionsCreate", { application: "planoorder", client: { email, password } });
  // @ts-expect-error sessions/read takes no sensitive body
  sensitive("sessionsRead", {});
  // The documentation's common parameters, from the shared parts of each body.
  sensitive("clientsCreate", { application: "planoorder", view: "client_read", session_view: "minimal", client: { email } });
  // @ts-expect-error a client view, not a session view
  sensitive("clientsCreate", { view: "minimal", client: { email } });
  // @ts-expect-error sessions/introspect answers no session: no session_view
  sensitive("sessionsIntrospect", { session_token: "pas_x", session_view: "full" });
}

export function heyApiInputsAreTyped() {
  sensitiveBody<SessionsCreateInput>({ email, password, application: "planoorder" });
  // @ts-expect-error emial is not a parameter of sessions/create
  sensitiveBody<SessionsCreateInput>({ emial: email, password, application: "planoorder" });
  // @ts-expect-error admin is not a parameter of sessions/create, even beside the right ones
  sensitiveBody<SessionsCreateInput>({ email, password, application: "planoorder", admin: true });
  // @ts-expect-error the operation's input type must be named, or the body would be untyped
  sensitiveBody({ email, password, application: "planoorder" });
}

// Both generators give the same decoded type of sessions/create.
export const sameInput: SensitiveInput<"sessionsCreate"> = {} as SessionsCreateInput;
export const sameInputBack: SessionsCreateInput = {} as SensitiveInput<"sessionsCreate">;

// The sensitive operations are found in the generated types, not listed by hand.
export const sensitiveOperation: SensitiveOperation = "clientsRegister";
// @ts-expect-error sessions/delete takes a JSON body
export const jsonOperation: SensitiveOperation = "sessionsDelete";
