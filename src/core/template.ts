// Strict templates for files pushed to hosts. A template is a file under
// files/; `{{name}}` placeholders are filled from a typed object. A missing
// value, an unused value or a leftover placeholder is an error, so a typo can
// never ship a half-rendered config.
import * as fs from "node:fs";
import * as path from "node:path";

/** The repository root: templates are read relative to it. */
export const ROOT = path.resolve(__dirname, "..", "..");

const PLACEHOLDER = /\{\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}\}/g;

export type TemplateValues = Readonly<Record<string, string | number>>;

/** Fills `{{name}}` placeholders in `text`; throws on any mismatch. */
export function fill(text: string, values: TemplateValues, source = "template"): string {
  const used = new Set<string>();
  const missing = new Set<string>();
  const out = text.replace(PLACEHOLDER, (_, name: string) => {
    const v = values[name];
    if (v === undefined) {
      missing.add(name);
      return "";
    }
    used.add(name);
    return String(v);
  });
  const unused = Object.keys(values).filter((k) => !used.has(k));
  if (missing.size > 0 || unused.length > 0) {
    const parts = [];
    if (missing.size > 0) parts.push(`no value for ${[...missing].join(", ")}`);
    if (unused.length > 0) parts.push(`values never used: ${unused.join(", ")}`);
    throw new Error(`${source}: ${parts.join("; ")}`);
  }
  if (out.includes("{{")) throw new Error(`${source}: malformed placeholder left after rendering`);
  return out;
}

/**
 * Renders `files/<source>` with the managed-file header that every pushed
 * file opens with. `comment` is the file format's comment marker.
 */
export function render(source: string, values: TemplateValues, comment = "#"): string {
  const text = fs.readFileSync(path.join(ROOT, "files", source), "utf8");
  const body = fill(text, values, `files/${source}`);
  const header = [
    `${comment} Managed by mailstack (Pulumi). Do not edit: the next deployment overwrites it.`,
    `${comment} Source: files/${source}`,
  ].join("\n");
  return `${header}\n${body.endsWith("\n") ? body : `${body}\n`}`;
}
