// Compiled, never run: shows that the generated types know each operation's slugs. If the
// types allowed any string, the @ts-expect-error lines would be unused and tsc would fail.
import { planoauth, sensitive } from "./client.js";

export async function slugsAreTyped() {
  const { error } = await planoauth("http://127.0.0.1").POST("/api/v1/sessions/create",
    sensitive("sessionsCreate", { email: "ada@example.com", password: "secret", application: "planoorder" }));
  if (error?.status === "invalid-password") return "documented for sessions/create";
  // @ts-expect-error email-already-registered belongs to clients/register, not sessions/create
  if (error?.status === "email-already-registered") return "impossible";
  // @ts-expect-error not a slug at all
  if (error?.status === "invalid-pasword") return "typo";
  return "";
}
