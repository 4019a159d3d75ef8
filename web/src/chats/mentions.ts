/** The mention being typed at the caret: `@user` or `@@role`. */
export interface MentionToken {
  kind: "user" | "role";
  query: string;
  /** Index of the first `@`. */
  start: number;
  /** Index just past the token (the name may go on after the caret). */
  end: number;
}

const NAME_CHAR = /[\p{L}\p{N}_.-]/u;

/**
 * The mention token around `caret`, or null. Like the engine, an `@` glued to a word before it
 * (an e-mail address) does not start a mention, nor does one inside a `code` span.
 */
export function mentionAt(text: string, caret: number): MentionToken | null {
  let start = caret;
  while (start > 0 && NAME_CHAR.test(text[start - 1])) start -= 1;
  if (start === 0 || text[start - 1] !== "@") return null;
  let at = start - 1;
  let kind: MentionToken["kind"] = "user";
  if (at > 0 && text[at - 1] === "@") {
    at -= 1;
    kind = "role";
  }
  if (at > 0) {
    const before = text[at - 1];
    if (NAME_CHAR.test(before) || before === "@") return null;
  }
  const ticks = (text.slice(0, at).match(/`/g) ?? []).length;
  if (ticks % 2 === 1) return null;
  let end = caret;
  while (end < text.length && NAME_CHAR.test(text[end])) end += 1;
  return { kind, query: text.slice(start, caret), start: at, end };
}

export interface Candidate {
  /** What gets inserted after `@` or `@@` (username or role code). */
  value: string;
  /** The human name shown beside it. */
  label: string;
}

/** Candidates matching `query`: prefix matches of the value first, then any substring of value or label. */
export function filterCandidates(candidates: Candidate[], query: string, limit = 8): Candidate[] {
  const q = query.toLocaleLowerCase();
  const prefix: Candidate[] = [];
  const inside: Candidate[] = [];
  for (const candidate of candidates) {
    const value = candidate.value.toLocaleLowerCase();
    const label = candidate.label.toLocaleLowerCase();
    if (value.startsWith(q)) prefix.push(candidate);
    else if (value.includes(q) || label.includes(q)) inside.push(candidate);
  }
  const byValue = (a: Candidate, b: Candidate) => a.value.localeCompare(b.value);
  return [...prefix.sort(byValue), ...inside.sort(byValue)].slice(0, limit);
}

/** Replace the token with the chosen mention and a space; returns the new text and caret. */
export function insertMention(text: string, token: MentionToken, value: string): { text: string; caret: number } {
  const prefix = token.kind === "role" ? "@@" : "@";
  const after = text.slice(token.end);
  const spacer = after.startsWith(" ") ? "" : " ";
  const inserted = `${prefix}${value}${spacer}`;
  return {
    text: text.slice(0, token.start) + inserted + after,
    caret: token.start + inserted.length + (spacer ? 0 : 1),
  };
}

/** Index of the next highlighted item for a key press, wrapping around. */
export function moveHighlight(current: number, count: number, key: "ArrowDown" | "ArrowUp"): number {
  if (count === 0) return 0;
  return key === "ArrowDown" ? (current + 1) % count : (current - 1 + count) % count;
}
