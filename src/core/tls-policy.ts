// The TLS profile of every port a person's mail client or browser connects to:
// 587, 465, 993 and 995 (Dovecot, conf.d/10-ssl.conf) and 443 (nginx,
// files/nginx/tls.conf). It is Mozilla's "intermediate" profile
// (https://wiki.mozilla.org/Security/Server_Side_TLS): TLS 1.2 and 1.3, and in
// TLS 1.2 only forward-secret AEAD suites, so no CBC suite with its HMAC.
// Port 25 does not use it: Postfix keeps opportunistic TLS there (main.cf;
// README, "TLS profiles").

/** The protocol versions the client ports speak, oldest first, in OpenSSL's and nginx's spelling. */
export const CLIENT_TLS_PROTOCOLS = ["TLSv1.2", "TLSv1.3"] as const;

/**
 * The TLS 1.2 cipher suites of the client ports, OpenSSL names, as Mozilla
 * orders them (the client's preference decides: none is weak). The DHE
 * suites take effect where the daemon has DH parameters (Dovecot's ssl_dh);
 * nginx has none, so it offers the ECDHE ones. TLS 1.3 suites are left to
 * OpenSSL's default: every TLS 1.3 suite is an AEAD one.
 */
export const CLIENT_TLS12_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
  "DHE-RSA-AES128-GCM-SHA256",
  "DHE-RSA-AES256-GCM-SHA384",
  "DHE-RSA-CHACHA20-POLY1305",
] as const;

/** CLIENT_TLS12_CIPHERS as an OpenSSL cipher string, as Dovecot and nginx take it. */
export const CLIENT_TLS_CIPHER_STRING = CLIENT_TLS12_CIPHERS.join(":");
