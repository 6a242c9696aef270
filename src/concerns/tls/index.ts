// TLS: the bootstrap certificate, the ACME certificate and nginx.
export {
  AcmeCertificate,
  type AcmeCertificateArgs,
  type AcmeSettings,
  acmePackages,
  DEPLOY_HOOK,
  issueArgs,
  spkiSha256,
} from "./acme";
export { BootstrapCertificate, type BootstrapCertificateArgs, TLS_DIR } from "./bootstrap";
export {
  NGINX_CONF,
  NGINX_TLS_CONF,
  renderCloudflareIni,
  renderNginxConf,
  type WebConfArgs,
  WWW_ROOT,
  webFiles,
} from "./render";
export type { AcmeChallenge, TlsConfig } from "./settings";
export * as settings from "./settings";
export { certificateNames, NGINX_PACKAGES, WebServer, type WebServerArgs, webHostNames } from "./web";
