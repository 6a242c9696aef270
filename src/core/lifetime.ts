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
//
// neverDropped(provider) is for what must outlive every plan the engine can
// make, the mail database and its roles and grants: retainOnDelete on top, so
// the engine never calls the provider's delete at all, whatever the reason
// (a destroy, a mode switch, a removal, a replacement). A run against the
// sandbox saw a dbMode switch delete the database despite deletedWith, and the
// deletes of a provider it cannot reach (no tunnel) fail the update; a retained
// resource only leaves the state. The cost: what the spec stops declaring stays
// in PostgreSQL until someone revokes or drops it (README, The mail database).
// protect is not used: it would make `pulumi destroy` and the mode switch fail
// until someone unprotects by hand, and then nothing would keep them.
import type * as pulumi from "@pulumi/pulumi";

/** Options for a resource managed through `provider` that a destroy must leave in place. */
export function keptOnDestroy(provider: pulumi.ProviderResource): pulumi.CustomResourceOptions {
  return { provider, deletedWith: provider };
}

/** Options for a resource managed through `provider` that no plan may delete (keptOnDestroy, and retained). */
export function neverDropped(provider: pulumi.ProviderResource): pulumi.CustomResourceOptions {
  return { ...keptOnDestroy(provider), retainOnDelete: true };
}
