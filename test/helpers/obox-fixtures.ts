// What the obox tests share: the bucket settings, a test key with every
// character the URL syntax gives a meaning to, and a reader of Dovecot config
// text (a rendered fragment, or doveconf's output).
import { DEFAULT_OBOX, type OboxSettings } from "../../src/concerns/dovecot/render-obox";

export const OBOX_SETTINGS: OboxSettings = {
  ...DEFAULT_OBOX,
  endpoint: "https://s3.example.test:9000",
  bucket: "mail-example-test",
  region: "eu-central-1",
};

export const OBOX_KEY = { accessKeyId: "AKIA+TEST/ID", secretAccessKey: "s3cr3t/+=@:%#?&'\"x" } as const;

/**
 * Settings with their section path, e.g. "protocol lmtp/mail_plugins" or
 * "plugin/obox_fs". Only whole comment lines are skipped: doveconf writes #
 * inside values (#hidden_use-P_to_show#).
 */
export function dovecotSettings(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const stack: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("#")) continue;
    if (line.endsWith("{")) stack.push(line.slice(0, -1).trim());
    else if (line === "}") stack.pop();
    else {
      const m = /^([a-z_0-9]+) = (.*)$/.exec(line);
      if (m?.[1] && m[2] !== undefined) out.set([...stack, m[1]].join("/"), m[2]);
    }
  }
  return out;
}
