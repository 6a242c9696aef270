// The stack outputs the audit report reads, each checked for its type, and the
// small readers of untyped values the sections share. An encrypted output
// reads as absent. Pure.
import { isRecord, isSecret, type Json } from "./state";

/** The typed outputs the report reads; anything else in the outputs is ignored. */
export interface Outputs {
  readonly host?: string;
  readonly hostname?: string;
  readonly os?: string;
  readonly domains?: string[];
  readonly mailstackVersion?: string;
  readonly migrations?: string;
  readonly openPorts?: { port: number; service: string }[];
  readonly versions?: Record<string, string>;
  readonly database?: { mode: string; postgresVersion: number | null };
  readonly dkimRecords?: { name: string; value: string; signing: boolean }[];
  readonly dnsZones?: Record<string, string>;
  readonly deliverability?: { expectedPtr: Record<string, string>; outboundPort25: string };
  readonly tls?: { acmeServer: string; names: string[]; certificate: string; renewal: string };
  readonly backup?: Json;
}

export const DAY = 86_400_000;

export const str = (v: Json | undefined) => (typeof v === "string" ? v : undefined);
export const num = (v: Json | undefined) => (typeof v === "number" ? v : undefined);
export const list = <T>(v: Json | undefined, f: (x: Json) => T | undefined): T[] | undefined =>
  Array.isArray(v) ? v.map(f).filter((x): x is T => x !== undefined) : undefined;
export const strings = (v: Json | undefined): Record<string, string> | undefined =>
  isRecord(v)
    ? Object.fromEntries(Object.entries(v).flatMap(([k, x]) => (typeof x === "string" ? [[k, x]] : [])))
    : undefined;

/** The outputs the report knows, each type-checked. Pure. */
export function readOutputs(raw: unknown): Outputs {
  const o: Record<string, Json> = isRecord(raw) ? raw : {};
  const field = (k: string) => (isSecret(o[k]) ? undefined : o[k]);
  const rec = (k: string) => {
    const v = field(k);
    return isRecord(v) ? v : undefined;
  };
  const tls = rec("tls");
  const deliverability = rec("deliverability");
  const database = rec("database");
  return {
    host: str(field("host")),
    hostname: str(field("hostname")),
    os: str(field("os")),
    domains: list(field("domains"), str),
    mailstackVersion: str(field("mailstackVersion")),
    migrations: str(field("migrations")),
    openPorts: list(field("openPorts"), (p) =>
      isRecord(p) && typeof p.port === "number" ? { port: p.port, service: str(p.service) ?? "" } : undefined,
    ),
    versions: strings(field("versions")),
    database: database && {
      mode: str(database.mode) ?? "",
      postgresVersion: num(database.postgresVersion) ?? null,
    },
    dkimRecords: list(field("dkimRecords"), (r) =>
      isRecord(r) && typeof r.name === "string" && typeof r.value === "string"
        ? { name: r.name, value: r.value, signing: r.signing === true }
        : undefined,
    ),
    dnsZones: strings(field("dnsZones")),
    deliverability: deliverability && {
      expectedPtr: strings(deliverability.expectedPtr) ?? {},
      outboundPort25: str(deliverability.outboundPort25) ?? "",
    },
    tls: tls && {
      acmeServer: str(tls.acmeServer) ?? "",
      names: list(tls.names, str) ?? [],
      certificate: str(tls.certificate) ?? "",
      renewal: str(tls.renewal) ?? "",
    },
    backup: field("backup"),
  };
}

/** Whole days from `from` (ISO) to `to`; null when `from` is not a time. */
export function daysBetween(from: string | undefined, to: Date): number | null {
  const t = from === undefined ? Number.NaN : Date.parse(from);
  return Number.isNaN(t) ? null : Math.floor((to.getTime() - t) / DAY);
}
