// Records every resource the program registers, for assertions on inputs,
// parents and secrecy. Import the code under test only after calling setup().
import * as crypto from "node:crypto";
import * as pulumi from "@pulumi/pulumi";

export interface Recorded {
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, unknown>;
}

/** What the mock engine received, by resource name. */
export const resources = new Map<string, Recorded>();
/** Child name -> parent name, seen through a transformation on the root component. */
export const parents = new Map<string, string | undefined>();
/** Resource name -> the names of the resources in its dependsOn, seen through the same transformation. */
export const dependsOn = new Map<string, string[]>();

/** What a registration asked of the engine besides its inputs, as the engine receives it. */
export interface Registration {
  readonly type: string;
  /** A custom resource (a provider's), not a component. */
  readonly custom: boolean;
  /** The URN of the provider that manages it; "" for a component or the default provider. */
  readonly provider: string;
  /** The URN of the resource it is deleted with (deletedWith); "" for none. */
  readonly deletedWith: string;
  /** retainOnDelete; false when not set. */
  readonly retainOnDelete: boolean;
  /** protect; false when not set. */
  readonly protect: boolean;
  /** ignoreChanges, as given. */
  readonly ignoreChanges: readonly string[];
}

/** Every registration's options, by resource name (the mocks' newResource never sees them). */
export const registrations = new Map<string, Registration>();
/** Every resource's URN as the mock engine made it, by resource name. */
export const urns = new Map<string, string>();

/** The fields of a RegisterResourceRequest read here. */
interface RegisterRequest {
  getName(): string;
  getType(): string;
  getCustom(): boolean;
  getProvider(): string;
  getDeletedwith(): string;
  getRetainondelete(): boolean | undefined;
  getProtect(): boolean | undefined;
  getIgnorechangesList(): string[];
}

/** Sets the mocks; `stack` names the stack the program runs as (URNs, getStack()). */
export function setup(stdout: (name: string) => string = () => "", stack = "test"): void {
  pulumi.runtime.setMocks(
    {
      newResource(args) {
        resources.set(args.name, { type: args.type, name: args.name, inputs: args.inputs });
        const state: Record<string, unknown> = { ...args.inputs };
        if (args.type === "command:remote:Command") {
          state.stdout = stdout(args.name);
          state.stderr = "";
        }
        if (args.type === "random:index/randomPassword:RandomPassword") state.result = "generated-password";
        if (args.type === "tls:index/privateKey:PrivateKey") {
          Object.assign(state, tlsKey(args.name, args.inputs));
        }
        // The MinIO server makes an access key's id and secret, and a user's secret when none is given.
        if (args.type === "minio:index/iamServiceAccount:IamServiceAccount") {
          Object.assign(state, { accessKey: "MOCKACCESSKEY", secretKey: "mock-secret-key", status: "on" });
        }
        if (args.type === "minio:index/iamUser:IamUser") state.secret ??= "mock-user-secret";
        return { id: `${args.name}-id`, state };
      },
      call: () => ({}),
    },
    "mailstack",
    stack,
    false,
  );
  // The resource options reach the engine in the registration request, which
  // the mock monitor gets but does not pass on to newResource: read them there.
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    registerResource(req: RegisterRequest, callback: unknown): void;
  };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, callback) => {
    // A provider reference is "<provider's URN>::<its id>".
    const ref = req.getProvider();
    registrations.set(req.getName(), {
      type: req.getType(),
      custom: req.getCustom(),
      provider: ref === "" ? "" : ref.slice(0, ref.lastIndexOf("::")),
      deletedWith: req.getDeletedwith(),
      retainOnDelete: req.getRetainondelete() === true,
      protect: req.getProtect() === true,
      ignoreChanges: req.getIgnorechangesList(),
    });
    register(req, (err: unknown, resp?: { getUrn(): string }) => {
      if (resp) urns.set(req.getName(), resp.getUrn());
      (callback as (e: unknown, r: unknown) => void)(err, resp);
    });
  };
}

/** The keys made so far, by resource name and arguments. */
const tlsKeys = new Map<string, Record<string, string>>();

/**
 * A real key of the algorithm @pulumi/tls was asked for, made with node:crypto
 * in the formats the provider returns: PKCS#1 PEM for RSA, PKCS#8 for Ed25519.
 * The same resource asked again gets the same key, as from the provider's
 * state: a program built twice (test/order.test.ts) differs only where its
 * config does.
 */
function tlsKey(name: string, inputs: Record<string, unknown>): Record<string, string> {
  const id = JSON.stringify([name, inputs.algorithm, inputs.rsaBits]);
  const made = tlsKeys.get(id) ?? newTlsKey(inputs);
  tlsKeys.set(id, made);
  return made;
}

function newTlsKey(inputs: Record<string, unknown>): Record<string, string> {
  const pem = { type: "spki", format: "pem" } as const;
  switch (inputs.algorithm) {
    case "RSA": {
      const bits = typeof inputs.rsaBits === "number" ? inputs.rsaBits : 2048;
      const { privateKey, publicKey } = crypto.generateKeyPairSync("rsa", {
        modulusLength: bits,
        privateKeyEncoding: { type: "pkcs1", format: "pem" },
        publicKeyEncoding: pem,
      });
      return { privateKeyPem: privateKey, publicKeyPem: publicKey };
    }
    case "ED25519": {
      const { privateKey, publicKey } = crypto.generateKeyPairSync("ed25519", {
        privateKeyEncoding: { type: "pkcs8", format: "pem" },
        publicKeyEncoding: pem,
      });
      return { privateKeyPem: privateKey, publicKeyPem: publicKey };
    }
    default:
      throw new Error(`mock: tls algorithm ${String(inputs.algorithm)} is not mocked`);
  }
}

type Named = pulumi.Resource & { __name?: string };

/** A transformation that records each resource's parent and dependsOn; pass it to the root component. */
export const recordParents: pulumi.ResourceTransformation = (args) => {
  const parent = args.opts.parent as Named | undefined;
  parents.set(args.name, parent?.__name);
  const deps = args.opts.dependsOn;
  const list = (Array.isArray(deps) ? deps : deps === undefined ? [] : [deps]) as Named[];
  dependsOn.set(
    args.name,
    list.flatMap((d) => (d.__name === undefined ? [] : [d.__name])),
  );
  return undefined;
};

/** Resolves an Output's value and whether it is secret. */
export function settle<T>(o: pulumi.Output<T>): Promise<{ value: pulumi.Unwrap<T>; secret: boolean }> {
  return new Promise((resolve) => {
    pulumi.all([o, pulumi.isSecret(o)]).apply(([value, secret]) => resolve({ value, secret }));
  });
}

/** Waits until the mock engine has seen every registration. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 50));
}
