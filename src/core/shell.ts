// Shell quoting, for the commands and shell-sourced files the stack writes.
// Pure: render functions use it, so it imports nothing (src/core/push.ts
// re-exports it for the commands it builds).

/** Quotes `s` for a POSIX shell. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
