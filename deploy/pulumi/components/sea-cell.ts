// sea-cell: one cell of sea-mq on Kubernetes, as a Pulumi component. The same objects as
// deploy/k8s (ctest deploy.Pulumi.* holds them equal, field by field): the 3-node NATS
// JetStream cluster running infra/nats/nats.conf (StatefulSet nats, services nats and
// nats-headless, PodDisruptionBudget nats-pdb, ConfigMap nats-config, Secret
// nats-credentials) and sea-mq-worker (Deployment, PodDisruptionBudget, ConfigMap
// sea-mq-worker-config of config/worker.k8s.yaml and its streams file, Secret
// sea-mq-worker-database, the setup Jobs for migrations and streams).
//
// The configuration files are arguments, not copies: readRepositoryConfig() reads them
// from a checkout, so a change to nats.conf reaches every environment at once.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";

/** The files of the repository a cell runs. */
export interface CellConfig {
    /** infra/nats/nats.conf */
    natsConf: string;
    /** config/worker.k8s.yaml */
    workerConfig: string;
    /** the worker's streams file (its `streams_file`, config/streams-ha.yaml) */
    streamsConfig: string;
}

export interface SeaCellArgs extends CellConfig {
    namespace?: pulumi.Input<string>;
    /** A password for every `password: $NATS_..._PASSWORD` of nats.conf, by variable. */
    natsPasswords: Record<string, pulumi.Input<string>>;
    /** SEA_DATABASE_URL of the worker: postgresql://USER:PASSWORD@HOST:5432/sea */
    databaseUrl: pulumi.Input<string>;
    /** The image of ./Dockerfile; default sea-mq:0.1.0. */
    image?: string;
    natsImage?: string;
    natsReplicas?: number;
    workerReplicas?: number;
    natsStorage?: string;
    /**
     * Makes the cluster a federation cell (docs/federation.md) instead of the hub: its own
     * cluster name and JetStream domain (`domain`, e.g. "cell-a"), and a leafnode remote to
     * the hub's leafnode port(s) (`hubs`, "host:7422") that logs in as user `federation`
     * with NATS_FEDERATION_PASSWORD and binds the cell's account SEAMQ.
     */
    leafnodeRemote?: { domain: string; hubs: string[] };
}

/** NATS_LEAFNODE_REMOTES of a cell: one remote to the hub's nodes, as user federation. */
export function leafnodeRemotes(hubs: string[]): string {
    const urls = hubs.map((hub) => `"nats://federation:$(NATS_FEDERATION_PASSWORD)@${hub}"`).join(", ");
    return `[{urls: [${urls}], account: SEAMQ}]`;
}

/** Reads a CellConfig from a checkout of the repository. */
export function readRepositoryConfig(repoRoot: string): CellConfig {
    const read = (file: string) => fs.readFileSync(path.join(repoRoot, file), "utf8");
    const workerConfig = read("config/worker.k8s.yaml");
    return {
        natsConf: read("infra/nats/nats.conf"),
        workerConfig,
        streamsConfig: read(path.join("config", streamsFileOf(workerConfig))),
    };
}

/** The `streams_file:` of a worker configuration (a file beside it). */
export function streamsFileOf(workerConfig: string): string {
    const found = /^streams_file:\s*([^\s#]+)/m.exec(workerConfig);
    if (!found) throw new Error("the worker configuration has no streams_file");
    return found[1];
}

/** The password variables nats.conf reads, in file order. */
export function natsPasswordVariables(natsConf: string): string[] {
    return [...natsConf.matchAll(/^\s*password:\s*\$(NATS_[A-Z0-9_]+_PASSWORD)\s*$/gm)].map((m) => m[1]);
}

const natsLabels = { app: "nats" };
const workerLabels = { app: "sea-mq-worker" };
const setupLabels = { app: "sea-mq-setup" };
const clientPort = 4222;
const monitorPort = 8222;
const leafnodePort = 7422;
const routesPort = 6222;
const adminPort = 9464;

const httpGet = (path: string, port: string) => ({ httpGet: { path, port } });
const secretEnv = (name: string, secret: string, key: string) => ({
    name,
    valueFrom: { secretKeyRef: { name: secret, key } },
});
const restricted = {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ["ALL"] },
};
const nonRoot = { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001 };

export class SeaCell extends pulumi.ComponentResource {
    readonly natsStatefulSet: k8s.apps.v1.StatefulSet;
    readonly workerDeployment: k8s.apps.v1.Deployment;
    /** nats://nats:4222 inside the namespace. */
    readonly natsUrl: string;

    constructor(name: string, args: SeaCellArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sea:cell:SeaCell", name, {}, opts);
        const remote = args.leafnodeRemote;
        if (remote && (!/^[a-z][a-z0-9-]*$/.test(remote.domain) || remote.domain === "hub" || !remote.hubs.length)) {
            throw new Error("sea-cell: leafnodeRemote needs a domain other than hub (a-z, 0-9, -) and at least one hub");
        }
        const passwords = natsPasswordVariables(args.natsConf);
        const missing = passwords.filter((v) => args.natsPasswords[v] === undefined);
        if (missing.length) throw new Error(`sea-cell: no password for ${missing.join(", ")}`);
        const workerUser = /^\s*user:\s*(\S+)/m.exec(args.workerConfig.split(/^admin:/m)[0])?.[1];
        if (!workerUser) throw new Error("sea-cell: the worker configuration names no nats.user");
        const workerPasswordKey = `NATS_${workerUser.toUpperCase().replace(/-/g, "_")}_PASSWORD`;
        if (!passwords.includes(workerPasswordKey)) {
            throw new Error(`sea-cell: nats.conf has no user ${workerUser} ($${workerPasswordKey})`);
        }
        const streamsFile = streamsFileOf(args.workerConfig);
        const image = args.image ?? "sea-mq:0.1.0";
        const replicas = args.natsReplicas ?? 3;
        const namespace = args.namespace;
        const child = { parent: this };
        const meta = (resourceName: string, labels: Record<string, string>) => ({
            name: resourceName,
            namespace,
            labels,
        });

        // --- NATS -------------------------------------------------------------------
        new k8s.core.v1.ConfigMap(
            `${name}-nats-config`,
            { metadata: meta("nats-config", natsLabels), data: { "nats.conf": args.natsConf } },
            child,
        );
        new k8s.core.v1.Secret(
            `${name}-nats-credentials`,
            { metadata: { name: "nats-credentials", namespace }, type: "Opaque", stringData: args.natsPasswords },
            child,
        );
        new k8s.core.v1.Service(
            `${name}-nats`,
            {
                metadata: meta("nats", natsLabels),
                spec: {
                    selector: natsLabels,
                    ports: [
                        { name: "client", port: clientPort, targetPort: "client" },
                        { name: "monitor", port: monitorPort, targetPort: "monitor" },
                        { name: "leafnodes", port: leafnodePort, targetPort: "leafnodes" },
                    ],
                },
            },
            child,
        );
        new k8s.core.v1.Service(
            `${name}-nats-headless`,
            {
                metadata: meta("nats-headless", natsLabels),
                spec: {
                    clusterIP: "None",
                    publishNotReadyAddresses: true,
                    selector: natsLabels,
                    ports: [
                        { name: "client", port: clientPort, targetPort: "client" },
                        { name: "monitor", port: monitorPort, targetPort: "monitor" },
                        { name: "routes", port: routesPort, targetPort: "routes" },
                    ],
                },
            },
            child,
        );
        const routes = Array.from({ length: replicas }, (_, i) => `nats://nats-${i}.nats-headless:${routesPort}`);
        this.natsStatefulSet = new k8s.apps.v1.StatefulSet(
            `${name}-nats`,
            {
                metadata: meta("nats", natsLabels),
                spec: {
                    serviceName: "nats-headless",
                    replicas,
                    podManagementPolicy: "Parallel",
                    updateStrategy: { type: "RollingUpdate" },
                    selector: { matchLabels: natsLabels },
                    template: {
                        metadata: { labels: natsLabels },
                        spec: {
                            affinity: {
                                podAntiAffinity: {
                                    requiredDuringSchedulingIgnoredDuringExecution: [
                                        {
                                            labelSelector: {
                                                matchExpressions: [{ key: "app", operator: "In", values: ["nats"] }],
                                            },
                                            topologyKey: "kubernetes.io/hostname",
                                        },
                                    ],
                                },
                            },
                            terminationGracePeriodSeconds: 60,
                            containers: [
                                {
                                    name: "nats",
                                    image: args.natsImage ?? "nats:2.9.10-alpine",
                                    command: ["nats-server", "-c", "/etc/nats/nats.conf"],
                                    env: [
                                        { name: "NATS_SERVER_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
                                        { name: "NATS_HOST", value: "0.0.0.0" },
                                        { name: "NATS_CLIENT_PORT", value: `${clientPort}` },
                                        { name: "NATS_MONITOR_PORT", value: `${monitorPort}` },
                                        { name: "NATS_CLUSTER_PORT", value: `${routesPort}` },
                                        { name: "NATS_CLUSTER_ROUTES", value: `[${routes.join(", ")}]` },
                                        { name: "NATS_STORE_DIR", value: "/data" },
                                        // The federation hub (docs/federation.md), or a cell of it: its
                                        // own cluster name and JetStream domain; cells connect to the
                                        // hub's leafnode port as user federation.
                                        { name: "NATS_CLUSTER_NAME", value: remote ? remote.domain : "sea-nats" },
                                        { name: "NATS_JETSTREAM_DOMAIN", value: remote ? remote.domain : "hub" },
                                        { name: "NATS_LEAFNODE_PORT", value: `${leafnodePort}` },
                                        ...passwords.map((v) => secretEnv(v, "nats-credentials", v)),
                                        // After the passwords: Kubernetes expands $(NATS_FEDERATION_PASSWORD)
                                        // only from variables defined earlier in the list.
                                        { name: "NATS_LEAFNODE_REMOTES", value: remote ? leafnodeRemotes(remote.hubs) : "[]" },
                                    ],
                                    ports: [
                                        { name: "client", containerPort: clientPort },
                                        { name: "monitor", containerPort: monitorPort },
                                        { name: "routes", containerPort: routesPort },
                                        { name: "leafnodes", containerPort: leafnodePort },
                                    ],
                                    volumeMounts: [
                                        { name: "config", mountPath: "/etc/nats", readOnly: true },
                                        { name: "data", mountPath: "/data" },
                                    ],
                                    resources: { requests: { cpu: "250m", memory: "512Mi" }, limits: { memory: "1Gi" } },
                                    startupProbe: {
                                        ...httpGet("/healthz?js-enabled-only=true", "monitor"),
                                        periodSeconds: 5,
                                        failureThreshold: 60,
                                    },
                                    readinessProbe: {
                                        ...httpGet("/healthz", "monitor"),
                                        periodSeconds: 5,
                                        timeoutSeconds: 3,
                                        failureThreshold: 3,
                                    },
                                    livenessProbe: {
                                        ...httpGet("/healthz?js-enabled-only=true", "monitor"),
                                        periodSeconds: 10,
                                        timeoutSeconds: 5,
                                        failureThreshold: 6,
                                    },
                                    lifecycle: { preStop: { exec: { command: ["nats-server", "--signal", "ldm=1"] } } },
                                },
                            ],
                            volumes: [{ name: "config", configMap: { name: "nats-config" } }],
                        },
                    },
                    volumeClaimTemplates: [
                        {
                            metadata: { name: "data" },
                            spec: {
                                accessModes: ["ReadWriteOnce"],
                                resources: { requests: { storage: args.natsStorage ?? "10Gi" } },
                            },
                        },
                    ],
                },
            },
            child,
        );
        new k8s.policy.v1.PodDisruptionBudget(
            `${name}-nats-pdb`,
            {
                metadata: meta("nats-pdb", natsLabels),
                spec: { minAvailable: Math.floor(replicas / 2) + 1, selector: { matchLabels: natsLabels } },
            },
            child,
        );
        this.natsUrl = `nats://nats:${clientPort}`;

        // --- the worker ----------------------------------------------------------------
        new k8s.core.v1.ConfigMap(
            `${name}-worker-config`,
            {
                metadata: meta("sea-mq-worker-config", workerLabels),
                data: { "worker.yaml": args.workerConfig, [streamsFile]: args.streamsConfig },
            },
            child,
        );
        new k8s.core.v1.Secret(
            `${name}-worker-database`,
            {
                metadata: { name: "sea-mq-worker-database", namespace },
                type: "Opaque",
                stringData: { SEA_DATABASE_URL: args.databaseUrl },
            },
            child,
        );
        this.workerDeployment = new k8s.apps.v1.Deployment(
            `${name}-worker`,
            {
                metadata: meta("sea-mq-worker", workerLabels),
                spec: {
                    replicas: args.workerReplicas ?? 2,
                    selector: { matchLabels: workerLabels },
                    strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
                    template: {
                        metadata: {
                            labels: workerLabels,
                            annotations: {
                                "prometheus.io/scrape": "true",
                                "prometheus.io/port": `${adminPort}`,
                                "prometheus.io/path": "/metrics",
                            },
                        },
                        spec: {
                            terminationGracePeriodSeconds: 40,
                            securityContext: { ...nonRoot, seccompProfile: { type: "RuntimeDefault" } },
                            affinity: {
                                podAntiAffinity: {
                                    preferredDuringSchedulingIgnoredDuringExecution: [
                                        {
                                            weight: 100,
                                            podAffinityTerm: {
                                                labelSelector: {
                                                    matchExpressions: [
                                                        { key: "app", operator: "In", values: ["sea-mq-worker"] },
                                                    ],
                                                },
                                                topologyKey: "kubernetes.io/hostname",
                                            },
                                        },
                                    ],
                                },
                            },
                            containers: [
                                {
                                    name: "sea-mq-worker",
                                    image,
                                    args: ["--config", "/etc/sea-mq/worker.yaml"],
                                    env: [
                                        secretEnv("NATS_PASSWORD", "nats-credentials", workerPasswordKey),
                                        secretEnv("SEA_DATABASE_URL", "sea-mq-worker-database", "SEA_DATABASE_URL"),
                                    ],
                                    ports: [{ name: "admin", containerPort: adminPort }],
                                    readinessProbe: {
                                        ...httpGet("/readyz", "admin"),
                                        periodSeconds: 5,
                                        timeoutSeconds: 3,
                                        failureThreshold: 3,
                                    },
                                    livenessProbe: {
                                        ...httpGet("/healthz", "admin"),
                                        initialDelaySeconds: 5,
                                        periodSeconds: 10,
                                        timeoutSeconds: 3,
                                        failureThreshold: 3,
                                    },
                                    resources: { requests: { cpu: "100m", memory: "64Mi" }, limits: { memory: "256Mi" } },
                                    securityContext: restricted,
                                    volumeMounts: [{ name: "config", mountPath: "/etc/sea-mq", readOnly: true }],
                                },
                            ],
                            volumes: [{ name: "config", configMap: { name: "sea-mq-worker-config" } }],
                        },
                    },
                },
            },
            child,
        );
        new k8s.policy.v1.PodDisruptionBudget(
            `${name}-worker-pdb`,
            {
                metadata: meta("sea-mq-worker-pdb", workerLabels),
                spec: { minAvailable: 1, selector: { matchLabels: workerLabels } },
            },
            child,
        );

        // --- one-shot setup: migrations, streams -------------------------------------------
        const job = (jobName: string, container: k8s.types.input.core.v1.Container, withConfig: boolean) =>
            new k8s.batch.v1.Job(
                `${name}-${jobName}`,
                {
                    metadata: meta(jobName, setupLabels),
                    spec: {
                        backoffLimit: 10,
                        template: {
                            metadata: { labels: setupLabels },
                            spec: {
                                restartPolicy: "OnFailure",
                                securityContext: nonRoot,
                                containers: [
                                    {
                                        ...container,
                                        securityContext: restricted,
                                        ...(withConfig
                                            ? { volumeMounts: [{ name: "config", mountPath: "/etc/sea-mq", readOnly: true }] }
                                            : {}),
                                    },
                                ],
                                ...(withConfig
                                    ? { volumes: [{ name: "config", configMap: { name: "sea-mq-worker-config" } }] }
                                    : {}),
                            },
                        },
                    },
                },
                child,
            );
        job(
            "sea-mq-db-migrate",
            {
                name: "migrate",
                image,
                command: ["sea-mq", "db", "migrate"],
                env: [secretEnv("SEAMQ_DATABASE_URL", "sea-mq-worker-database", "SEA_DATABASE_URL")],
            },
            false,
        );
        job(
            "sea-mq-streams-apply",
            {
                name: "streams-apply",
                image,
                command: ["sea-mq", "streams", "apply", "-f", `/etc/sea-mq/${streamsFile}`, "--timeout", "60"],
                env: [
                    { name: "SEAMQ_NATS_URL", value: this.natsUrl },
                    { name: "SEAMQ_NATS_USER", value: "operator" },
                    secretEnv("SEAMQ_NATS_PASSWORD", "nats-credentials", "NATS_OPERATOR_PASSWORD"),
                ],
            },
            true,
        );
        this.registerOutputs({ natsUrl: this.natsUrl });
    }
}
