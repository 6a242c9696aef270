// The config layer: the key list, reading from Pulumi, parsing through the
// concerns' settings, and the files config points at on the deploying machine.
export { ConfigError } from "./errors";
export { readAcmeCaBundle, readLdapBindPassword, readPrivateKey } from "./files";
export { CONFIG_KEYS, type ConfigKey } from "./keys";
export { parseConfig, type StackConfig } from "./parse";
export { loadConfig } from "./read";
