// obox's fragment, conf.d/90-obox.conf, rendered from typed values, with the
// obox options, their defaults and problems, which config and the component
// share. Pure: no config, no Pulumi. The fragment's fs URLs hold the bucket
// key: src/concerns/dovecot/obox.ts pushes it in a secret push of its own.
import { render } from "../../core/template";

/** The fragment, as dovecot.conf includes it. */
export const OBOX_FRAGMENT = "90-obox.conf";

/**
 * dovecot.conf's line for obox mode, right after conf.d/90-quota.conf:
 * `_try` because Dovecot's own push, which installs dovecot.conf, runs
 * before this component's push puts the fragment in place.
 */
export const OBOX_INCLUDE = `!include_try conf.d/${OBOX_FRAGMENT}`;

/** How requests name the bucket. */
export type OboxAddressing = "path" | "virtual-hosted";

/** mailstack:obox, over DEFAULT_OBOX. */
export interface OboxOptions {
  /** The local cache of message objects, a Dovecot size such as 512M or 2G. */
  readonly cacheSize: string;
  /** Directory of that cache, on a file system with room to spare beyond cacheSize. */
  readonly cachePath: string;
  /**
   * path (https://host/BUCKET/..., what MinIO serves by default) or
   * virtual-hosted (https://BUCKET.host/..., what AWS wants for new buckets).
   */
  readonly addressing: OboxAddressing;
  /** Allow an http:// endpoint: mail and the key then cross the network in clear. */
  readonly allowHttp: boolean;
}

export const DEFAULT_OBOX: OboxOptions = {
  cacheSize: "1G",
  cachePath: "/var/cache/mails",
  addressing: "path",
  allowHttp: false,
};

/** Everything 90-obox.conf is rendered from but the key: the options and the storage bucket. */
export interface OboxSettings extends OboxOptions {
  /** The bucket's S3 API: scheme, host and optional port (mailstack:s3Endpoint or minioEndpoint). */
  readonly endpoint: string;
  /** The bucket (mailstack:s3Bucket or minioBucket). */
  readonly bucket: string;
  /** The region requests are signed for, with AWS v4 signatures (mailstack:s3Region). */
  readonly region: string;
}

/** The bucket key obox uses. Both halves are secrets and never appear in a message. */
export interface OboxKey {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

const SIZE = /^[1-9][0-9]*[KMGT]$/;
const CACHE_PATH = /^(\/[A-Za-z0-9._-]+)+$/;
const REGION = /^[a-z0-9-]{1,32}$/;
const STORAGE_KEYS = {
  endpoint: "mailstack:s3Endpoint or mailstack:minioEndpoint",
  bucket: "mailstack:s3Bucket or mailstack:minioBucket",
  region: "mailstack:s3Region",
} as const;

/** The endpoint, parsed, or why it is not one. Never quotes the URL: it may hold credentials. */
function parseEndpoint(s: OboxSettings): URL | string {
  let u: URL;
  try {
    u = new URL(s.endpoint);
  } catch {
    return "is not a URL such as https://s3.eu-central-1.amazonaws.com";
  }
  if (u.username !== "" || u.password !== "") return "holds credentials; the key has settings of its own";
  if (u.protocol === "http:" && !s.allowHttp) {
    return "is http://, which would send mail and the key in clear: use https://, or set --path 'obox.allowHttp' true (mailstack:obox)";
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") return "must start with https://";
  if (u.hostname === "") return "has no host";
  if (u.pathname !== "/" || u.search !== "" || u.hash !== "") {
    return "must be only scheme, host and optional port, such as https://minio.example.com:9000";
  }
  return u;
}

/**
 * Why `bucket` breaks S3's bucket naming rules, or undefined.
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
 */
function bucketProblem(bucket: string): string | undefined {
  if (bucket.length < 3 || bucket.length > 63) return "must be 3 to 63 characters long";
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(bucket)) {
    return "may hold only lower-case letters, digits, dots and hyphens, and must start and end with a letter or digit";
  }
  if (bucket.includes("..")) return "has two dots in a row";
  if (/^\d+\.\d+\.\d+\.\d+$/.test(bucket)) return "looks like an IP address";
  if (bucket.startsWith("xn--") || bucket.endsWith("-s3alias") || bucket.endsWith("--ol-s3")) {
    return "uses a prefix or suffix S3 reserves (xn--, -s3alias, --ol-s3)";
  }
  return undefined;
}

/** The problems of `s`, each naming the setting; empty when usable. Never mentions the key. Pure. */
export function oboxProblems(s: OboxSettings): string[] {
  const problems: string[] = [];
  const endpoint = parseEndpoint(s);
  if (typeof endpoint === "string")
    problems.push(`the bucket endpoint ${endpoint} (${STORAGE_KEYS.endpoint})`);
  const bucketWhy = bucketProblem(s.bucket);
  if (bucketWhy !== undefined) {
    problems.push(`bucket ${JSON.stringify(s.bucket)} ${bucketWhy} (${STORAGE_KEYS.bucket})`);
  } else if (s.addressing === "virtual-hosted" && s.bucket.includes(".")) {
    // BUCKET.host would need a certificate for a name a wildcard cannot cover.
    problems.push(
      `bucket ${JSON.stringify(s.bucket)} has dots, which virtual-hosted addressing cannot serve over https; set --path 'obox.addressing' path (mailstack:obox)`,
    );
  }
  if (!REGION.test(s.region)) {
    problems.push(
      `region ${JSON.stringify(s.region)} is not a region such as eu-central-1 (${STORAGE_KEYS.region})`,
    );
  }
  if (s.addressing !== "path" && s.addressing !== "virtual-hosted") {
    problems.push(
      `addressing ${JSON.stringify(s.addressing)} must be path or virtual-hosted (mailstack:obox)`,
    );
  }
  if (typeof s.cacheSize !== "string" || !SIZE.test(s.cacheSize)) {
    problems.push(
      `cacheSize ${JSON.stringify(s.cacheSize)} must be a size such as 512M or 2G (mailstack:obox)`,
    );
  }
  if (
    typeof s.cachePath !== "string" ||
    !CACHE_PATH.test(s.cachePath) ||
    /(^|\/)\.\.?(\/|$)/.test(s.cachePath)
  ) {
    problems.push(
      `cachePath ${JSON.stringify(s.cachePath)} must be an absolute directory path of letters, digits and ._- (mailstack:obox)`,
    );
  }
  return problems;
}

/**
 * `s` URL-escaped for the userinfo of an fs URL in a Dovecot plugin setting:
 * every byte but RFC 3986's unreserved characters as %XX, and then every %
 * doubled, since Dovecot expands %variables in plugin settings and turns %%
 * back into %. Pure.
 */
export function oboxUrlEscape(s: string): string {
  const escaped = [...Buffer.from(s, "utf8")]
    .map((b) => {
      const c = String.fromCharCode(b);
      return /[A-Za-z0-9._~-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
    })
    .join("");
  return escaped.replace(/%/g, "%%");
}

/** The s3: fs URL of the bucket, with the key in it. Pure; `s` must have no problems. */
function s3Url(s: OboxSettings, key: OboxKey): string {
  const u = new URL(s.endpoint);
  const userinfo = `${oboxUrlEscape(key.accessKeyId)}:${oboxUrlEscape(key.secretAccessKey)}`;
  const host = s.addressing === "virtual-hosted" ? `${s.bucket}.${u.host}` : u.host;
  const params = [
    ...(s.addressing === "path" ? [`bucket=${s.bucket}`] : []),
    // A region makes Dovecot sign with AWS v4 (v2 otherwise).
    `region=${s.region}`,
    // S3's request ids in Dovecot's error lines, for the storage's support.
    "loghdr=x-amz-request-id",
    "loghdr=x-amz-id-2",
  ];
  return `s3:${u.protocol}//${userinfo}@${host}/?${params.join("&")}`;
}

/** /etc/dovecot/conf.d/90-obox.conf. Throws on bad settings or key, never quoting the key. Pure. */
export function renderOboxConf(s: OboxSettings, key: OboxKey): string {
  const problems = oboxProblems(s);
  for (const [name, value, setting] of [
    ["access key id", key.accessKeyId, "mailstack:s3AccessKeyId"],
    ["secret access key", key.secretAccessKey, "mailstack:s3SecretAccessKey"],
  ] as const) {
    if (typeof value !== "string" || value === "" || /[\s\0]/.test(value)) {
      problems.push(`the bucket's ${name} must be one word, not empty (${setting})`);
    }
  }
  if (problems.length > 0) throw new Error(`obox: ${problems.join("; ")}`);
  return render(`dovecot/conf.d/${OBOX_FRAGMENT}`, {
    cacheSize: s.cacheSize,
    cachePath: s.cachePath,
    s3Url: s3Url(s, key),
  });
}
