// A Pulumi program deploying one sea-cell into the current Kubernetes context:
//   cd deploy/pulumi && npm install && pulumi stack init dev
//   pulumi config set namespace sea-mq
//   pulumi config set --secret databaseUrl postgresql://USER:PASSWORD@HOST:5432/sea
//   for v in $(grep -o 'NATS_[A-Z_]*_PASSWORD' ../../infra/nats/nats.conf | sort -u); do
//     pulumi config set --secret "$v" "p$(openssl rand -hex 20)"; done
//   pulumi up
// Compiled (not run) by ctest deploy.Pulumi.SeaCellUnderMocks.
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";

import { SeaCell, natsPasswordVariables, readRepositoryConfig } from "./components/sea-cell";

const config = new pulumi.Config();
const files = readRepositoryConfig(path.join(__dirname, "..", ".."));
const cell = new SeaCell("sea", {
    ...files,
    namespace: config.get("namespace"),
    image: config.get("image"),
    databaseUrl: config.requireSecret("databaseUrl"),
    natsPasswords: Object.fromEntries(natsPasswordVariables(files.natsConf).map((v) => [v, config.requireSecret(v)])),
});

export const natsUrl = cell.natsUrl;
