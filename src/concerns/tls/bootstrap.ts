// Certificates for the mail services. For now, the bootstrap: a self-signed
// certificate made on the host when none is there, so every TLS service
// starts on the very first `up`. The key is made on the host and never leaves
// it. certbot (a later component) puts the real certificate at the same paths.
import * as pulumi from "@pulumi/pulumi";
import type { HostConnection } from "../../core/push";
import { runScript } from "../../core/remote";

/** Where every service reads the certificate and key. */
export const TLS_DIR = "/etc/mailstack/tls";

export interface BootstrapCertificateArgs {
  readonly connection: HostConnection;
  /** The name the certificate is for. */
  readonly hostname: string;
}

export class BootstrapCertificate extends pulumi.ComponentResource {
  readonly certPath = `${TLS_DIR}/fullchain.pem`;
  readonly keyPath = `${TLS_DIR}/privkey.pem`;
  /** Subject and expiry of the certificate on the host when it last ran. */
  readonly summary: pulumi.Output<string>;
  /** Depend on this before starting a service that reads the certificate. */
  readonly ready: pulumi.Resource;

  constructor(name: string, args: BootstrapCertificateArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mailstack:tls:BootstrapCertificate", name, {}, opts);
    const cert = runScript(`${name}-selfsigned`, args.connection, "tls/bootstrap-cert.sh", [args.hostname], {
      parent: this,
    });
    this.summary = cert.stdout;
    this.ready = cert;
    this.registerOutputs({ certPath: this.certPath, keyPath: this.keyPath, summary: this.summary });
  }
}
