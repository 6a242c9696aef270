// Markdown building blocks the report's sections share. Pure.

/** One Markdown table cell: no pipe or line break breaks the row. */
function cell(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined || v === "") return "—";
  return String(v).replace(/\|/g, "\\|").replace(/\n/g, " ");
}

/** A Markdown table, or "(none)" without rows. */
export function table(
  head: readonly string[],
  rows: readonly (readonly (string | number | boolean | null)[])[],
) {
  if (rows.length === 0) return ["(none)"];
  return [
    `| ${head.join(" | ")} |`,
    `| ${head.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.map(cell).join(" | ")} |`),
  ];
}

/** A long value shortened for a table; the JSON has it whole. */
export function short(v: string, max = 72): string {
  return v.length <= max ? v : `${v.slice(0, max)}… (${v.length} characters)`;
}

export const date = (iso: string | null) => (iso === null ? "unknown" : iso.slice(0, 10));
