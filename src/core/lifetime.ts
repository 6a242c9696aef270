// What `pulumi destroy` means for this stack: stop managing; the host keeps
// working (README, Stopping management).
//
// The engine deletes every resource of a destroyed stack. On the mail host that
// deletes nothing: no command of the stack has a delete script, so the files,
// services, mail, database and certificates stay. Off the host it would break
// the running server: deleting the MinIO user, key or policy stops the nightly
// backup (and obox mail); deleting PostgreSQL's roles or database stops every
// lookup and drops the accounts; deleting the Cloudflare records takes the MX
// away, and inbound mail with it.
//
// keptOnDestroy(provider) keeps those: the resource is deleted with its
// provider (the engine's deletedWith), and deleting a provider deletes nothing.
// - `pulumi destroy` deletes the providers too, so it leaves them all in place;
// - so does an `up` that stops using the provider (dnsProvider zonefile, dbMode
//   preprovisioned, storageMode external or none): it stops managing them;
// - an `up` that drops one of them while the provider stays (a retired DKIM
//   selector's record, a removed domain's records, a grant) still deletes it,
//   and a replacement (a rotated key) still deletes the old one.
// retainOnDelete would keep them on destroy as well, but also on those removals
// and replacements: a rotated key would stay valid, a retired record published.
import type * as pulumi from "@pulumi/pulumi";

/** Options for a resource managed through `provider` that a destroy must leave in place. */
export function keptOnDestroy(provider: pulumi.ProviderResource): pulumi.CustomResourceOptions {
  return { provider, deletedWith: provider };
}
