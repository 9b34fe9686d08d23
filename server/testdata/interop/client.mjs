// Interoperability client for c1m's echo handler, on Node's `ws` (the exact
// version is pinned in package.json and package-lock.json).
//
// Run by server/interop_node_linux_test.go after
// `npm ci --prefix server/testdata/interop`:
//
//     node client.mjs ws://127.0.0.1:PORT/ws 0,125,126,65535,65536
//
// The sizes come from the Go test's echoSizes. For each size it sends a text
// and a binary message, whole and then fragmented, and checks the echo; then
// a ping whose pong must carry the same payload; then the close handshake (we
// send 1000, the server must answer 1000). It prints one line per check and
// exits non-zero on the first mismatch.

import { readFileSync } from 'node:fs';
import WebSocket from 'ws';

const TIMEOUT = 10_000; // ms for any one step

function fail(msg) {
  console.log(`FAIL ${msg}`);
  process.exit(1);
}

function ok(msg) {
  console.log(`ok   ${msg}`);
}

// payload returns n bytes to echo, the same content as interopPayload in the
// Go test: text is "é" repeated (an "a" pads an odd n), binary cycles
// through 251 values.
function payload(text, n) {
  if (text) return Buffer.from('\u00e9'.repeat(n >> 1) + 'a'.repeat(n & 1), 'utf8');
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i % 251;
  return b;
}

// fragments splits p exactly like interopFragments in the Go test: a 1-byte
// first fragment (half of a code point in text: ws sends Buffers as they are,
// so text fragments may split code points, as RFC 6455 allows), then halves
// of the rest, or 4093-byte pieces past 8 KiB. An empty p gives two empty
// fragments.
function fragments(p) {
  if (p.length === 0) return [p, p];
  const frags = [p.subarray(0, 1)];
  let rest = p.subarray(1);
  const size = p.length > 8192 ? 4093 : Math.max(1, (rest.length + 1) >> 1);
  while (rest.length > 0) {
    frags.push(rest.subarray(0, size));
    rest = rest.subarray(size);
  }
  return frags;
}

// withTimeout rejects if promise does not settle within TIMEOUT.
function withTimeout(promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), TIMEOUT);
    }),
  ]).finally(() => clearTimeout(timer));
}

// Incoming messages, queued until a check takes them.
const inbox = [];
const waiting = [];
function deliver(item) {
  const w = waiting.shift();
  if (w) w(item);
  else inbox.push(item);
}
function nextMessage() {
  const item = inbox.shift();
  if (item) return Promise.resolve(item);
  return new Promise((resolve) => waiting.push(resolve));
}

async function expectEcho(want, isBinary, how) {
  const kind = isBinary ? 'binary' : 'text';
  const got = await withTimeout(nextMessage(), `${how} ${kind} echo of ${want.length} bytes`);
  if (got.error) fail(`${how} ${kind} echo of ${want.length} bytes: ${got.error}`);
  if (got.isBinary !== isBinary) fail(`${how} ${kind} echo of ${want.length} bytes: got a ${got.isBinary ? 'binary' : 'text'} message`);
  if (!want.equals(got.data)) fail(`${how} ${kind} echo of ${want.length} bytes: payload differs (${got.data.length} bytes back)`);
  ok(`${how} ${kind} echo of ${want.length} bytes`);
}

async function main(url, sizes) {
  const wsVersion = JSON.parse(readFileSync(new URL('./node_modules/ws/package.json', import.meta.url))).version;
  console.log(`ws ${wsVersion}, node ${process.version}`);

  // maxPayload: ws's default is 100 MiB, well above the 64 KiB echoes; set
  // it so a change of default cannot break this. perMessageDeflate is left
  // at its default, so the client offers the extension and the server must
  // decline it.
  const ws = new WebSocket(url, { maxPayload: 1 << 20, handshakeTimeout: TIMEOUT });
  const closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const pongs = [];
  ws.on('pong', (data) => pongs.push(Buffer.from(data)));
  ws.on('message', (data, isBinary) => deliver({ data, isBinary }));
  ws.on('error', (err) => deliver({ error: err.message }));
  await withTimeout(new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  }), 'the handshake').catch((err) => fail(`handshake: ${err.message}`));
  ok(`handshake, extensions ${ws.extensions || 'none'}`);

  for (const n of sizes) {
    for (const isBinary of [false, true]) {
      const msg = payload(!isBinary, n);
      ws.send(msg, { binary: isBinary });
      await expectEcho(msg, isBinary, 'whole');
      const frags = fragments(msg);
      frags.forEach((f, i) => ws.send(f, { binary: isBinary, fin: i === frags.length - 1 }));
      await expectEcho(msg, isBinary, `fragmented (${frags.length} frames)`);
    }
  }

  // Ping → pong with the same payload. The echo that follows is answered
  // after the pong (the server handles frames in order), so by then the
  // pong has been seen.
  const data = Buffer.from('c1m-node-ping');
  ws.ping(data);
  const after = Buffer.from('after ping');
  ws.send(after, { binary: false });
  await expectEcho(after, false, 'whole');
  if (pongs.length !== 1) fail(`got ${pongs.length} pongs, want 1`);
  if (!pongs[0].equals(data)) fail(`pong payload ${JSON.stringify(pongs[0].toString())}, want ${JSON.stringify(data.toString())}`);
  ok(`pong with payload ${JSON.stringify(data.toString())}`);

  // 'close' reports the code of the close frame received (1005 when it had
  // none, 1006 when there was no close frame at all).
  ws.close(1000, 'bye');
  const { code, reason } = await withTimeout(closed, 'the close handshake');
  if (code !== 1000) fail(`close: server answered ${code} ${JSON.stringify(reason)}, want 1000`);
  ok(`close handshake: sent 1000, received ${code}`);
}

if (process.argv.length !== 4) fail('usage: node client.mjs WS_URL SIZES (comma-separated byte counts)');
main(process.argv[2], process.argv[3].split(',').map(Number)).catch((err) => fail(err.stack || String(err)));
