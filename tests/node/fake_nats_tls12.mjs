// A fake NATS server that speaks TLS 1.2 at most (nats-server 2.9 cannot be limited to
// it): it sends an INFO asking for TLS, upgrades the socket, answers PING with PONG, and
// prints one line per client: "handshake ok TLSv1.2" or "handshake failed <code>".
//
//   node fake_nats_tls12.mjs <key.pem> <cert.pem> <port-file>
// The listening port (127.0.0.1) is written to <port-file> once the server listens.
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

const [keyFile, certFile, portFile] = process.argv.slice(2);
const key = fs.readFileSync(keyFile);
const cert = fs.readFileSync(certFile);
const info = {
  server_id: 'FAKE', server_name: 'fake', version: '2.9.10', proto: 1, go: 'node',
  host: '127.0.0.1', port: 0, headers: true, max_payload: 1048576, tls_required: true,
};

const server = net.createServer((socket) => {
  socket.on('error', () => {});
  socket.write(`INFO ${JSON.stringify(info)}\r\n`);
  const secure = new tls.TLSSocket(socket, { isServer: true, key, cert, maxVersion: 'TLSv1.2' });
  secure.on('secure', () => console.log(`handshake ok ${secure.getProtocol()}`));
  secure.on('error', (error) => console.log(`handshake failed ${error.code ?? error.message}`));
  secure.on('data', (data) => {
    if (data.toString().includes('PING')) secure.write('PONG\r\n');
  });
});
server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(`${portFile}.tmp`, String(server.address().port));
  fs.renameSync(`${portFile}.tmp`, portFile);
});
