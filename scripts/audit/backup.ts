// The report's "Backup" section: the backup output, and what the backup
// pushes in the state say (the maximum age and the database dump from
// backup.conf, when each push last changed).

import { parsePush } from "../../policy/rules";
import { BACKUP_CONF } from "../../src/concerns/backup/component";
import { table } from "./markdown";
import { num, type Outputs, str } from "./outputs";
import { byType, child, isRecord, type StackState, text } from "./state";

export interface BackupAudit {
  readonly storage: {
    readonly mode: string | null;
    readonly endpoint: string | null;
    readonly bucket: string | null;
    readonly region: string | null;
    readonly managed?: {
      readonly policy: string | null;
      readonly user: string | null;
      readonly versioning: string | null;
      readonly noncurrentVersionRetentionDays: number | null;
    };
  };
  readonly repository: string | null;
  readonly schedule: string | null;
  readonly keep: {
    readonly last: number | null;
    readonly daily: number | null;
    readonly weekly: number | null;
    readonly monthly: number | null;
  };
  readonly maxAgeHours: number | null;
  /** The database mailstack-backup dumps; "none" when it dumps none. */
  readonly databaseDump: string | null;
  /** The backup pushes' results at the last pulumi up, and when they last changed. */
  readonly lastDeployed: Readonly<
    Record<"config" | "secrets", { result: string | null; changed: string | null } | null>
  >;
  readonly liveStatus: string;
}

/** The section as data: what the JSON report holds under its key. Pure. */
export function backupOf(state: StackState, out: Outputs): BackupAudit | { readonly storage: "none" | null } {
  const b = out.backup;
  if (!isRecord(b)) return { storage: b === "none" ? "none" : null };
  const storage = isRecord(b.storage) ? b.storage : {};
  const managed = isRecord(storage.managed) ? storage.managed : undefined;
  const keep = isRecord(b.keep) ? b.keep : {};
  const component = byType(state, "mailstack:backup:Backup");
  const push = (role: string) => {
    const p = child(state, component, `${component?.name}-${role}`);
    return p ? { result: str(p.outputs.result) ?? null, changed: p.modified ?? null } : null;
  };
  const config = child(
    state,
    child(state, component, `${component?.name}-config`),
    `${component?.name}-config-apply`,
  );
  const payload = text(config?.inputs.stdin);
  const conf = (payload && parsePush(payload)?.files.get(BACKUP_CONF)) ?? "";
  const maxAge = /^MAX_AGE=(\d+)$/m.exec(conf)?.[1];
  const dump = /^DATABASE="(.*)"$/m.exec(conf)?.[1];
  return {
    storage: {
      mode: str(storage.mode) ?? null,
      endpoint: str(storage.endpoint) ?? null,
      bucket: str(storage.bucket) ?? null,
      region: str(storage.region) ?? null,
      ...(managed
        ? {
            managed: {
              policy: str(managed.policy) ?? null,
              user: str(managed.user) ?? null,
              versioning: str(managed.versioning) ?? null,
              noncurrentVersionRetentionDays: num(managed.noncurrentVersionRetentionDays) ?? null,
            },
          }
        : {}),
    },
    repository: str(b.repository) ?? null,
    schedule: str(b.schedule) ?? null,
    keep: {
      last: num(keep.last) ?? null,
      daily: num(keep.daily) ?? null,
      weekly: num(keep.weekly) ?? null,
      monthly: num(keep.monthly) ?? null,
    },
    maxAgeHours: maxAge === undefined ? null : Number(maxAge) / 3600,
    databaseDump: dump === undefined ? null : dump || "none",
    lastDeployed: { config: push("config"), secrets: push("secrets") },
    liveStatus: "not in the state: run `mailstack-backup status` on the host",
  };
}

/** The section's Markdown, below its heading. Pure. */
export function backupMarkdown(b: ReturnType<typeof backupOf>): string[] {
  if (!("keep" in b)) {
    return [b.storage === "none" ? "No backup storage (mailstack:storageMode none)." : "Not recorded."];
  }
  const managed = b.storage.managed;
  const deployed = (p: { result: string | null; changed: string | null } | null) =>
    p === null ? null : `${p.result ?? "?"} (last changed ${p.changed ?? "at an unrecorded time"})`;
  return table(
    ["", ""],
    [
      [
        "Storage",
        `${b.storage.mode ?? "?"}: ${b.storage.endpoint ?? "?"}, bucket ${b.storage.bucket ?? "?"} (${b.storage.region ?? "?"})`,
      ],
      ...(managed
        ? [
            [
              "Managed on MinIO",
              `policy ${managed.policy}, user ${managed.user}, versioning ${managed.versioning}, old versions kept ${managed.noncurrentVersionRetentionDays} days`,
            ] as const,
          ]
        : []),
      ["Repository", b.repository],
      ["Schedule", b.schedule],
      [
        "Retention",
        `last ${b.keep.last}, daily ${b.keep.daily}, weekly ${b.keep.weekly}, monthly ${b.keep.monthly}`,
      ],
      ["Max age (hours)", b.maxAgeHours],
      ["Database dump", b.databaseDump],
      ["Config push", deployed(b.lastDeployed.config)],
      ["Secrets push", deployed(b.lastDeployed.secrets)],
      ["Live status", b.liveStatus],
    ],
  );
}
