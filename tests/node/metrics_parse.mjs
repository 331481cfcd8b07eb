// Parses Prometheus text-format exposition with parse-prometheus-text-format, a parser
// independent of sea-mq, and prints the parsed families as one JSON document.
// Usage: node metrics_parse.mjs <file | http://host:port/metrics>
// Exit 1 (with the parser's message on stderr) when the text does not parse.
import fs from 'node:fs';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';

const source = process.argv[2];
if (!source) {
  process.stderr.write('usage: node metrics_parse.mjs <file | url>\n');
  process.exit(2);
}

let text;
if (source.startsWith('http://')) {
  const response = await fetch(source, { signal: AbortSignal.timeout(10000) });
  if (!response.ok) {
    process.stderr.write(`GET ${source}: HTTP ${response.status}\n`);
    process.exit(1);
  }
  const contentType = response.headers.get('content-type') ?? '';
  if (!contentType.startsWith('text/plain; version=0.0.4')) {
    process.stderr.write(`GET ${source}: unexpected Content-Type '${contentType}'\n`);
    process.exit(1);
  }
  text = await response.text();
} else {
  text = fs.readFileSync(source, 'utf8');
}

try {
  process.stdout.write(JSON.stringify(parsePrometheusTextFormat(text)));
} catch (error) {
  process.stderr.write(`${error.name}: ${error.message}\n`);
  process.exit(1);
}
