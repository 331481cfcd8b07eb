// The independent peer of sea-mq's Standard Webhooks tests: the npm reference library
// `standardwebhooks` signs and verifies what the C++ side asks it to.
//
// usage: node standard_webhooks_peer.mjs CASES.json
//   CASES.json: {"sign": [{secret, id, timestamp, body}],
//                "verify": [{secret, id, timestamp, signature, body}]}
// Prints {"signed": ["v1,..."], "verified": [{"ok": bool, "error": string|null}]}.
// `verify` uses the library's own clock and 5-minute tolerance.
import { readFileSync } from "node:fs";
import { Webhook } from "standardwebhooks";

if (process.argv.length !== 3) {
  console.error("usage: node standard_webhooks_peer.mjs CASES.json");
  process.exit(2);
}
const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
const signed = (cases.sign ?? []).map(({ secret, id, timestamp, body }) =>
  new Webhook(secret).sign(id, new Date(timestamp * 1000), body),
);
const verified = (cases.verify ?? []).map(({ secret, id, timestamp, signature, body }) => {
  try {
    new Webhook(secret).verify(
      body,
      { "webhook-id": id, "webhook-timestamp": String(timestamp), "webhook-signature": signature },
      { jsonParse: false },
    );
    return { ok: true, error: null };
  } catch (error) {
    return { ok: false, error: String(error.message ?? error) };
  }
});
console.log(JSON.stringify({ signed, verified }));
