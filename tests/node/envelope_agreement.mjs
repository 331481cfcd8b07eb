// The independent validator of sea-mq's agreement test (tests/envelope/agreement_test.cpp):
// ajv 8 + ajv-formats on schemas/events/envelope-v1.schema.json and the payload contracts,
// plus the two checks the schema leaves to its validators (size limit, base64 syntax);
// and the CloudEvents SDK v10 in strict mode. Prints one JSON array: per file
// {file, valid, problems, cloudevents: {accepted, error}}.
//
// usage: node envelope_agreement.mjs --schemas DIR [--max-bytes N] FILE...
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import Ajv from "ajv";
import addFormats from "ajv-formats";
import cloudevents from "cloudevents";

const { CloudEvent } = cloudevents;

function parseArguments(argv) {
  const options = { schemas: null, maxBytes: 1 << 20, files: [] };
  for (let i = 0; i < argv.length; ++i) {
    if (argv[i] === "--schemas") options.schemas = argv[++i];
    else if (argv[i] === "--max-bytes") options.maxBytes = Number(argv[++i]);
    else options.files.push(argv[i]);
  }
  if (!options.schemas || options.files.length === 0) {
    console.error("usage: node envelope_agreement.mjs --schemas DIR [--max-bytes N] FILE...");
    process.exit(2);
  }
  return options;
}

const options = parseArguments(process.argv.slice(2));
const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);
const eventsDir = join(options.schemas, "events");
const validateEnvelope = ajv.compile(JSON.parse(readFileSync(join(eventsDir, "envelope-v1.schema.json"), "utf8")));

// Contracts: events/<context>/<name>.v<n>.schema.json, kind from "x-sea-kind" (default event).
const contracts = new Map();
for (const context of readdirSync(eventsDir)) {
  const dir = join(eventsDir, context);
  if (context === "messaging" || !statSync(dir).isDirectory()) continue;
  for (const file of readdirSync(dir)) {
    const match = /^(.+)\.v([1-9][0-9]*)\.schema\.json$/.exec(file);
    if (!match) continue;
    const schema = JSON.parse(readFileSync(join(dir, file), "utf8"));
    const kind = schema["x-sea-kind"] || "event";
    contracts.set(`${context}.${kind}.${match[1]}.v${match[2]}`, {
      validate: ajv.compile(schema),
      visibility: schema["x-sea-visibility"],
    });
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function check(text) {
  const problems = [];
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > options.maxBytes) return [`size: ${bytes} bytes > ${options.maxBytes}`];
  let event;
  try {
    event = JSON.parse(text);
  } catch (error) {
    return [`json: ${error.message}`];
  }
  if (!validateEnvelope(event)) {
    for (const e of validateEnvelope.errors) problems.push(`${e.instancePath}: ${e.keyword}: ${e.message}`);
  }
  if (event && typeof event === "object" && typeof event.data_base64 === "string" && !BASE64.test(event.data_base64)) {
    problems.push("/data_base64: contentEncoding: not base64");
  }
  if (problems.length === 0) {
    const contract = contracts.get(event.type);
    if (contract) {
      if (!("data" in event)) problems.push("/data: contract: payload must be JSON data");
      else if (!contract.validate(event.data)) {
        for (const e of contract.validate.errors) problems.push(`/data${e.instancePath}: ${e.keyword}: ${e.message}`);
      }
      if ("visibility" in event && event.visibility !== contract.visibility) {
        problems.push(`/visibility: contract: contract says ${contract.visibility}`);
      }
    }
  }
  return problems;
}

function cloudEventsVerdict(text) {
  try {
    new CloudEvent(JSON.parse(text), true);
    return { accepted: true };
  } catch (error) {
    return { accepted: false, error: `${error.message} ${JSON.stringify(error.errors ?? "")}` };
  }
}

const results = options.files.map((file) => {
  const text = readFileSync(file, "utf8");
  const problems = check(text);
  return { file, valid: problems.length === 0, problems, cloudevents: cloudEventsVerdict(text) };
});
console.log(JSON.stringify(results, null, 1));
