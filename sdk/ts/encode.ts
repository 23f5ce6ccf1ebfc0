// The body of a sensitive route, whichever generated client sends it.

/** The base64 (standard alphabet, padded) of the parameters' JSON: a sensitive body. */
export function encodeParams(params: object): string {
  return Buffer.from(JSON.stringify(params)).toString("base64");
}
