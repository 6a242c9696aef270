// mailstack-health: the daemons, the queue, the log, the certificate, backups and DNS.
export { type HealthArgs, HealthCheck } from "./component";
export {
  type HealthConfValues,
  renderDnsExpectations,
  renderHealthConf,
  renderHealthCron,
  servedForm,
} from "./render";
export * as settings from "./settings";
export { DEFAULT_HEALTH, type HealthSettings, healthProblems } from "./settings";
