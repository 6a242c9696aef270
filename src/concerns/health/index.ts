// mailstack-health: the daemons, the queue, the log, the certificate, backups and DNS.
export { type HealthArgs, HealthCheck } from "./component";
export {
  type HealthConfValues,
  renderDnsExpectations,
  renderHealthConf,
  renderHealthCron,
  renderHealthNoise,
  servedForm,
} from "./render";
export * as settings from "./settings";
export { DEFAULT_HEALTH, type HealthSettings, healthProblems, type NoiseClass } from "./settings";
