// The host: the shell library, OS check, identity, upgrades, sshd and the firewall.
export { BASE_PACKAGES, MailHost, type MailHostArgs, SHELL_LIBRARY } from "./component";
export { type OpenPort, renderAutoUpgrades, renderFirewallRules, renderSshd } from "./render";
export type { HostConfig, HostOs, SshConfig } from "./settings";
export * as settings from "./settings";
