// DNS: the mail domains' records, as zone fragments and at Cloudflare.
export {
  cloudflareRecordArgs,
  DEFAULT_DNS_TTL,
  type DnsArgs,
  dmarcRecords,
  MailDns,
  recordResourceName,
} from "./component";
export {
  DEFAULT_DMARC,
  DEFAULT_MTA_STS,
  DEFAULT_SPF,
  type DmarcSettings,
  type DnsRecord,
  type DnsRecordsArgs,
  type DnsRecordType,
  dmarcProblems,
  dmarcValue,
  dnsProblems,
  dnsRecords,
  type MtaStsSettings,
  mtaStsId,
  mtaStsPolicy,
  mtaStsProblems,
  rdata,
  recordKey,
  type SpfSettings,
  spfLookups,
  spfProblems,
  spfValue,
  txtStrings,
  zoneFragment,
  zoneOf,
} from "./records";
export type { DnsConfig } from "./settings";
export * as settings from "./settings";
