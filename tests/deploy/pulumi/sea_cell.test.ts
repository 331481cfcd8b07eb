// The sea-cell Pulumi component under Pulumi's runtime mocks (no Pulumi service, CLI,
// provider plugin or cluster): what it registers, that each object is a valid Kubernetes
// object (kubernetes-models), and that it describes exactly what deploy/k8s describes.
// Run by tests/deploy/pulumi_test.sh: SEAMQ_SOURCE_DIR is the repository, SEAMQ_K8S_JSON
// the manifests of deploy/k8s as JSON ([{source, doc}]).
import * as pulumi from "@pulumi/pulumi";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { test } from "node:test";

import { SeaCell, SeaCellArgs, natsPasswordVariables, readRepositoryConfig } from "../../../deploy/pulumi/components/sea-cell";

interface Registered {
    type: string;
    name: string;
    inputs: any;
}
const registered: Registered[] = [];
pulumi.runtime.setMocks(
    {
        newResource: (args: pulumi.runtime.MockResourceArgs) => {
            registered.push({ type: args.type, name: args.name, inputs: args.inputs });
            return { id: `${args.name}-id`, state: args.inputs };
        },
        call: (args: pulumi.runtime.MockCallArgs) => args.inputs,
    },
    "sea-mq",
    "test",
    false,
);

const repo = process.env.SEAMQ_SOURCE_DIR!;
const config = readRepositoryConfig(repo);
const passwords = Object.fromEntries(natsPasswordVariables(config.natsConf).map((v) => [v, `p-${v.toLowerCase()}`]));

/** The Kubernetes objects a SeaCell registers, once every registration has been seen. */
async function render(name: string, extra: Partial<SeaCellArgs> = {}): Promise<any[]> {
    const before = registered.length;
    const cell = new SeaCell(name, { ...config, natsPasswords: passwords, databaseUrl: "postgresql://u:p@db/sea", ...extra });
    await new Promise((resolve) => pulumi.all([cell.urn, cell.natsStatefulSet.urn, cell.workerDeployment.urn]).apply(resolve));
    // Children register asynchronously; 12 objects, waited for at most 5 s.
    for (let i = 0; i < 100 && registered.slice(before).filter((r) => r.type.startsWith("kubernetes:")).length < 12; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return registered
        .slice(before)
        .filter((r) => r.type.startsWith("kubernetes:"))
        .map((r) => unwrapSecrets(r.inputs));
}

// Pulumi marks secret values (a Secret's stringData) with this signature key in the
// inputs the mocks see; the manifest has the plain value.
const secretSignature = "4dabf18193072939515e22adb298388d";
function unwrapSecrets(value: any): any {
    if (Array.isArray(value)) return value.map(unwrapSecrets);
    if (value && typeof value === "object") {
        if (secretSignature in value) return unwrapSecrets(value.value);
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v)]));
    }
    return value;
}

const find = (objects: any[], kind: string, name: string) =>
    objects.find((o) => o.kind === kind && o.metadata?.name === name);

test("registers the NATS cluster and the worker, each a valid Kubernetes object", async () => {
    const objects = await render("cell-a");
    const names = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    assert.deepEqual(names, [
        "ConfigMap/nats-config",
        "ConfigMap/sea-mq-worker-config",
        "Deployment/sea-mq-worker",
        "Job/sea-mq-db-migrate",
        "Job/sea-mq-streams-apply",
        "PodDisruptionBudget/nats-pdb",
        "PodDisruptionBudget/sea-mq-worker-pdb",
        "Secret/nats-credentials",
        "Secret/sea-mq-worker-database",
        "Service/nats",
        "Service/nats-headless",
        "StatefulSet/nats",
    ]);
    for (const o of objects) {
        const Model = require(`kubernetes-models/${o.apiVersion}/${o.kind}`)[o.kind];
        assert.doesNotThrow(() => new Model(o).validate(), `${o.kind} ${o.metadata.name}`);
    }
    assert.equal(find(objects, "ConfigMap", "nats-config").data["nats.conf"], fs.readFileSync(`${repo}/infra/nats/nats.conf`, "utf8"));
    assert.equal(find(objects, "Secret", "nats-credentials").stringData.NATS_WORKER_SEA_PASSWORD, "p-nats_worker_sea_password");
    assert.equal(find(objects, "Secret", "sea-mq-worker-database").stringData.SEA_DATABASE_URL, "postgresql://u:p@db/sea");
});

test("a five-node cluster routes to every node and keeps a majority through disruptions", async () => {
    const objects = await render("cell-b", { natsReplicas: 5 });
    const statefulSet = find(objects, "StatefulSet", "nats");
    assert.equal(statefulSet.spec.replicas, 5);
    const routes = statefulSet.spec.template.spec.containers[0].env.find((e: any) => e.name === "NATS_CLUSTER_ROUTES").value;
    assert.equal(routes, `[${[0, 1, 2, 3, 4].map((i) => `nats://nats-${i}.nats-headless:6222`).join(", ")}]`);
    assert.equal(find(objects, "PodDisruptionBudget", "nats-pdb").spec.minAvailable, 3);
});

test("refuses a missing NATS password and a cell named like the hub", () => {
    const { NATS_OPERATOR_PASSWORD, ...without } = passwords;
    assert.throws(
        () => new SeaCell("cell-c", { ...config, natsPasswords: without, databaseUrl: "x" }),
        /no password for NATS_OPERATOR_PASSWORD/,
    );
    assert.throws(
        () => new SeaCell("cell-d", { ...config, natsPasswords: passwords, databaseUrl: "x", leafnodeRemote: { domain: "hub", hubs: ["hub:7422"] } }),
        /leafnodeRemote needs a domain other than hub/,
    );
});

// A cell: its own cluster name and domain, and a remote to the hub whose password
// Kubernetes fills in from the Secret (so it must come after the password's variable).
test("a leafnode remote makes the cluster a federation cell", async () => {
    const objects = await render("cell-f", { leafnodeRemote: { domain: "cell-a", hubs: ["hub-0.example:7422", "hub-1.example:7422"] } });
    const env: { name: string; value?: string }[] = find(objects, "StatefulSet", "nats").spec.template.spec.containers[0].env;
    const value = (name: string) => env.find((e) => e.name === name)?.value;
    assert.equal(value("NATS_CLUSTER_NAME"), "cell-a");
    assert.equal(value("NATS_JETSTREAM_DOMAIN"), "cell-a");
    assert.equal(
        value("NATS_LEAFNODE_REMOTES"),
        '[{urls: ["nats://federation:$(NATS_FEDERATION_PASSWORD)@hub-0.example:7422", ' +
            '"nats://federation:$(NATS_FEDERATION_PASSWORD)@hub-1.example:7422"], account: SEAMQ}]',
    );
    const index = (name: string) => env.findIndex((e) => e.name === name);
    assert.ok(index("NATS_FEDERATION_PASSWORD") >= 0 && index("NATS_FEDERATION_PASSWORD") < index("NATS_LEAFNODE_REMOTES"));
    assert.equal(env.filter((e) => e.name === "NATS_LEAFNODE_REMOTES").length, 1);
    // The hub (no remote) is what deploy/k8s describes.
    const hub: { name: string; value?: string }[] = find(await render("cell-g"), "StatefulSet", "nats").spec.template.spec.containers[0].env;
    assert.equal(hub.find((e) => e.name === "NATS_LEAFNODE_REMOTES")?.value, "[]");
    assert.equal(hub.find((e) => e.name === "NATS_JETSTREAM_DOMAIN")?.value, "hub");
});

// Parity: every object of deploy/k8s has its twin in the component, equal in labels,
// spec and data (names, ports, replicas, probes, anti-affinity, volumes, configuration
// content); the Secrets kustomize generates are the component's Secrets.
function assertParity(objects: any[], manifests: { source: string; doc: any }[], where: string) {
    let compared = 0;
    for (const { source, doc } of manifests) {
        if (doc.kind === "Kustomization") {
            const generated = (doc.secretGenerator ?? []).map((g: any) => g.name).sort();
            const secrets = objects.filter((o) => o.kind === "Secret").map((o) => o.metadata.name).sort();
            assert.deepEqual(secrets, generated, "Secrets: component vs kustomization secretGenerator");
            continue;
        }
        const twin = find(objects, doc.kind, doc.metadata.name);
        assert.ok(twin, `${source}: ${doc.kind} ${doc.metadata.name} is not in the sea-cell component`);
        assert.equal(twin.apiVersion, doc.apiVersion, `${source}: apiVersion`);
        assert.deepEqual(twin.metadata.labels ?? {}, doc.metadata.labels ?? {}, `${source}: ${doc.kind} ${doc.metadata.name} labels`);
        assert.deepEqual(twin.spec, doc.spec, `${source}: ${doc.kind} ${doc.metadata.name} spec`);
        assert.deepEqual(twin.data, doc.data, `${source}: ${doc.kind} ${doc.metadata.name} data`);
        compared++;
    }
    const inK8s = new Set(manifests.map(({ doc }) => `${doc.kind}/${doc.metadata?.name}`));
    for (const o of objects.filter((o) => o.kind !== "Secret")) {
        assert.ok(inK8s.has(`${o.kind}/${o.metadata.name}`), `${o.kind} ${o.metadata.name} of the component is not in ${where}`);
    }
    assert.equal(compared, objects.length - 2);
}

test("describes exactly what deploy/k8s describes", async () => {
    const manifests: { source: string; doc: any }[] = JSON.parse(fs.readFileSync(process.env.SEAMQ_K8S_JSON!, "utf8"));
    assertParity(await render("cell-e"), manifests, "deploy/k8s");
});

// Each cell overlay of deploy/cells (kubectl apply -k deploy/cells/<cell>) is what the
// component makes with leafnodeRemote {domain, hubs} read from the overlay's objects.
test("describes exactly what each cell overlay of deploy/cells describes", async () => {
    const cells: Record<string, { source: string; doc: any }[]> = JSON.parse(
        fs.readFileSync(process.env.SEAMQ_K8S_CELLS_JSON!, "utf8"),
    );
    assert.ok(Object.keys(cells).length >= 1, "no cell overlay in deploy/cells");
    let index = 0;
    for (const [cell, manifests] of Object.entries(cells)) {
        const nats = manifests.find(({ doc }) => doc.kind === "StatefulSet" && doc.metadata.name === "nats")!.doc;
        const env: { name: string; value?: string }[] = nats.spec.template.spec.containers[0].env;
        const domain = env.find((e) => e.name === "NATS_JETSTREAM_DOMAIN")!.value!;
        assert.equal(domain, cell, `deploy/cells/${cell}: the JetStream domain is the directory's name`);
        const remotes = env.find((e) => e.name === "NATS_LEAFNODE_REMOTES")!.value!;
        const hubs = [...remotes.matchAll(/@([^"]+)"/g)].map((m) => m[1]);
        const objects = await render(`cell-overlay-${index++}`, { leafnodeRemote: { domain, hubs } });
        assertParity(objects, manifests, `deploy/cells/${cell}`);
    }
});
