/**
 * The one redaction helper for logs: no log line of any function may carry a
 * URL's userinfo (`user:pass@`), query string or fragment (`?token=…`,
 * `#access_token=…`). Item URLs are the producer's, and a presigned or
 * token-carrying URL is a credential.
 *
 * `redactUrl` is for messages we build from a URL we hold; `redactText` is for
 * free text that may contain one (an error message from a library, a JSON
 * parser's excerpt of a message body). Every Powertools logger the functions
 * create runs each string it writes through `redactText`
 * (shared/observability.ts), so a URL that reaches a log unnoticed is redacted
 * too. What is stored as data (`rejected/` bodies, manifests) is not touched.
 */

/** What replaces a removed userinfo, query or fragment. */
export const REDACTED = "[redacted]";

/** A URL without its secrets: `scheme://[redacted]@host:port/path?[redacted]`. Path and host are kept. */
export function redactUrl(url: URL | string): string {
  let parsed: URL;
  try {
    parsed = typeof url === "string" ? new URL(url) : url;
  } catch {
    return redactText(String(url));
  }
  const userinfo = parsed.username || parsed.password ? `${REDACTED}@` : "";
  const query = parsed.search ? `?${REDACTED}` : "";
  const fragment = parsed.hash ? `#${REDACTED}` : "";
  return `${parsed.protocol}//${userinfo}${parsed.host}${parsed.pathname}${query}${fragment}`;
}

/**
 * The patterns start only where a token starts (the lookbehinds), so the work
 * stays linear in the text's length whatever it holds.
 * `scheme://…` up to whitespace, a quote or an angle bracket (how URLs sit in messages and JSON excerpts).
 */
const URL_IN_TEXT = /(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]*/gi;
/** A query-like `?name=value` left outside a URL (a truncated excerpt that lost the scheme). */
const QUERY_IN_TEXT = /\?[^\s"'<>`?#=]*=[^\s"'<>`]*/g;
/** A `name:secret@host`-like credential left outside a URL (the same). */
const USERINFO_IN_TEXT = /(?<=^|[\s"'<>`/@])[^\s"'<>`/@:]+:[^\s"'<>`/@]*@/g;

/**
 * Redacts every URL-like part of free text. Works on the characters, not on a
 * URL parser, so a truncated or invalid URL (a parser's excerpt) is redacted too.
 */
export function redactText(text: string): string {
  if (!/[?#@]/.test(text)) return text; // nothing to redact: the common case, kept cheap
  return text
    .replace(URL_IN_TEXT, redactUrlText)
    .replace(QUERY_IN_TEXT, `?${REDACTED}`)
    .replace(USERINFO_IN_TEXT, `${REDACTED}@`);
}

function redactUrlText(match: string): string {
  const schemeEnd = match.indexOf("://") + 3;
  const scheme = match.slice(0, schemeEnd);
  let rest = match.slice(schemeEnd);
  const authorityEnd = rest.search(/[/?#]/);
  let authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd);
  rest = authorityEnd === -1 ? "" : rest.slice(authorityEnd);
  const at = authority.lastIndexOf("@");
  if (at !== -1) authority = `${REDACTED}@${authority.slice(at + 1)}`;
  const secretStart = rest.search(/[?#]/);
  if (secretStart !== -1) rest = `${rest.slice(0, secretStart)}${rest[secretStart]}${REDACTED}`;
  return `${scheme}${authority}${rest}`;
}

/** A JSON.stringify replacer that redacts every string value (Powertools' `jsonReplacerFn`). */
export function redactingReplacer(_key: string, value: unknown): unknown {
  return typeof value === "string" ? redactText(value) : value;
}
