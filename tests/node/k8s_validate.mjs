// Validates Kubernetes manifests against the API schemas of npm kubernetes-models (the
// OpenAPI schemas of Kubernetes, compiled): types, required fields, enums, formats.
// Like the API server in its default mode, the schemas accept unknown fields; the parity
// checks (tests/infra, tests/deploy) pin the fields sea-mq relies on.
//
//   node k8s_validate.mjs MANIFESTS.json    [{"source": "...", "doc": {...}}, ...]
// Exit 0 when every document is valid, 1 otherwise (each problem on stderr).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const require = createRequire(import.meta.url);

/** The kubernetes-models class of a document's apiVersion and kind. */
export function modelOf(doc) {
  if (typeof doc?.apiVersion !== "string" || typeof doc?.kind !== "string") {
    throw new Error("no apiVersion or kind");
  }
  const path = `kubernetes-models/${doc.apiVersion}/${doc.kind}`;
  let module;
  try {
    module = require(path);
  } catch {
    throw new Error(`unknown apiVersion/kind ${doc.apiVersion} ${doc.kind} (no ${path})`);
  }
  return module[doc.kind];
}

/** Throws with the schema's message when `doc` is not a valid Kubernetes object. */
export function validateManifest(doc) {
  const Model = modelOf(doc);
  if (!doc.metadata?.name) throw new Error("metadata.name missing");
  new Model(doc).validate();
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const manifests = JSON.parse(readFileSync(process.argv[2], "utf8"));
  let failed = 0;
  for (const { source, doc } of manifests) {
    try {
      validateManifest(doc);
    } catch (error) {
      failed++;
      console.error(`k8s-schema: ${source}: ${doc?.kind} ${doc?.metadata?.name}: ${error.message}`);
    }
  }
  if (manifests.length === 0) {
    console.error("k8s-schema: no manifests given");
    process.exit(1);
  }
  console.log(`k8s-schema: ${manifests.length - failed} of ${manifests.length} manifests valid (kubernetes-models)`);
  process.exit(failed ? 1 : 0);
}
