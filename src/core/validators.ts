// The value checks two or more concerns share: domain names, addresses, hosts,
// IP addresses and networks, DNs, private keys. Each returns why a value is
// unusable, or undefined when it is fine; the caller names the config key and
// the fix (src/core/settings.ts).

/** One DNS label: lower-case letters, digits and inner hyphens, at most 63. */
export const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
export const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const IPV4_NET =
  /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\/(?:3[0-2]|[12]?\d))?$/;
const IPV6_NET = /^[0-9a-f:]*:[0-9a-f:]*(?:\/(?:12[0-8]|1[01]\d|[1-9]?\d))?$/i;
/** A distinguished name such as ou=people,dc=tlabs,dc=team. */
export const DN = /^\w+=[^,]+(,\w+=[^,]+)*$/;

/** Returns why `name` is not a fully qualified domain name, or undefined when it is one. */
export function domainProblem(name: string): string | undefined {
  if (name.length === 0) return "is empty";
  if (name.endsWith(".")) return "ends with a dot; write it without the trailing dot";
  if (name.length > 253) return "is longer than 253 characters";
  if (name !== name.toLowerCase()) return "has upper-case letters; write it in lower case";
  const labels = name.split(".");
  if (labels.length < 2) return "is not fully qualified (it needs at least one dot, as in example.com)";
  for (const label of labels) {
    if (label.length > 63) return `has a label longer than 63 characters ("${label.slice(0, 20)}...")`;
    if (!LABEL.test(label)) {
      return `has an invalid label "${label}" (use letters, digits and inner hyphens only)`;
    }
  }
  if (/^\d+$/.test(labels[labels.length - 1] ?? "")) return "ends in a numeric label, which no TLD is";
  return undefined;
}

/** Returns why `address` is not a usable mail address, or undefined when it is one. */
export function addressProblem(address: string): string | undefined {
  const at = address.lastIndexOf("@");
  if (at <= 0) return "is not an address of the form local@domain";
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (local.length > 64) return "has a local part longer than 64 characters";
  if (/[^\x20-\x7e]/.test(local)) {
    return `has a local part "${local}" with characters outside ASCII; the server does not offer SMTPUTF8 (Dovecot 2.3's LMTP has none), so use an ASCII address`;
  }
  if (!LOCAL_PART.test(local)) return `has an invalid local part "${local}"`;
  const bad = domainProblem(domain);
  return bad === undefined ? undefined : `has a domain "${domain}" that ${bad}`;
}

/** Returns why `host` is neither an IP address nor a host name, or undefined. */
export function hostProblem(host: string): string | undefined {
  if (IPV4.test(host)) return undefined;
  if (host.includes(":")) {
    // Let the URL parser judge IPv6 literals rather than a hand-written pattern.
    try {
      new URL(`ssh://[${host}]/`);
      return undefined;
    } catch {
      return "is not a valid IPv6 address";
    }
  }
  if (/^[\d.]+$/.test(host)) return "is not a valid IPv4 address";
  const bad = domainProblem(host);
  return bad === undefined ? undefined : `is neither an IP address nor a host name: it ${bad}`;
}

/** Returns why `v` is not an IPv4 address, or undefined. */
export function ipv4Problem(v: string): string | undefined {
  return IPV4.test(v) ? undefined : "is not an IPv4 address";
}

/** Returns why `v` is not an IPv6 address, or undefined. */
export function ipv6Problem(v: string): string | undefined {
  return /^[0-9a-f:]+:[0-9a-f:]*$/i.test(v) ? undefined : "is not an IPv6 address";
}

/** Returns why `v` is neither an IP address nor a CIDR network (v4 or v6), or undefined. */
export function networkProblem(v: string): string | undefined {
  return IPV4_NET.test(v) || IPV6_NET.test(v) ? undefined : "is not an IP address or network";
}

/** Returns why `text` is not a private key, or undefined when it looks like one. */
export function keyProblem(text: string): string | undefined {
  return /^-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text.trim())
    ? undefined
    : "is not a PEM/OpenSSH private key (it must start with -----BEGIN ... PRIVATE KEY-----)";
}
