// c1m.js: a browser client for the c1m JSON protocol (docs/protocol.md,
// "Browser client"). One ES module, no dependencies, no build step: vendor
// this file as it is, or load it from a c1m server at /c1m.js.
//
//   import { C1MClient } from "./c1m.js";
//   const c = new C1MClient("wss://chat.example.com/ws", { token: () => fetchToken() });
//   c.on("message", (m) => console.log(m.room, m.from, m.data));
//   await c.connect();
//   await c.join("lobby", { presence: true });
//   const { seq } = await c.send("lobby", { text: "hello" });
//
// The client reconnects on its own with jittered exponential backoff,
// waits as long as the server asks when it drains, and then rejoins its
// rooms, asking for what it missed since the last seq it saw in each.

const DEFAULTS = Object.freeze({
  token: null, // a JWT, or a function returning one (or a Promise of one), called before every connection
  user: null, // --auth=none only: the user id, sent as the `user` query parameter
  presence: false, // join() default for presence events
  resume: true, // send "since": <last seq> when rejoining a room after a reconnect
  ackTimeoutMs: 10000, // a request without a reply within this rejects with code "timeout"
  connectTimeoutMs: 10000, // an opening handshake taking longer is abandoned and retried
  backoff: Object.freeze({ initialMs: 500, maxMs: 30000, factor: 2 }),
  stableMs: 5000, // a connection open this long resets the backoff
  maxHintMs: 600000, // the longest wait a server's reconnect hint may ask for
  // Whether to reconnect after the server closed with code and reason.
  // By default everything but 1008 (policy violation: the server or an
  // operator refused this client) is retried.
  shouldReconnect: (code) => code !== 1008,
  WebSocket: null, // a WebSocket constructor (default globalThis.WebSocket; Node 22 has one)
});

/** An error from the server ({"type":"error"}) or from the client itself. */
export class C1MError extends Error {
  /**
   * @param {string} code the protocol's error code ("rate_limited", "forbidden", …) or
   *   one of the client's: "timeout", "disconnected", "closed", "left", "bad_frame"
   * @param {string} message one sentence
   * @param {object} [reply] the server's error frame, when there is one
   */
  constructor(code, message, reply) {
    super(message);
    this.name = "C1MError";
    this.code = code;
    this.reply = reply;
  }
}

/**
 * A connection to a c1m server that outlives its WebSocket: requests are
 * acknowledged through promises, rooms survive reconnects, and events
 * arrive through on(type, fn).
 *
 * States ("state" event, `client.state`): "idle" (not started),
 * "connecting" (an opening handshake is under way), "open", "waiting"
 * (between two attempts, for `delayMs`), "closed" (close() was called, or
 * the server refused the client for good).
 *
 * Events: "state" {state, previous, and for "waiting": attempt, delayMs,
 * hinted, code, reason},
 * "open" {reconnect}, "close" {code, reason, wasClean}, "joined" {room,
 * count, rejoin}, "message", "presence", "gap", "shutdown" (the server's
 * frames as they came), "hole" {room, after, before} (in a cluster, a
 * message whose "prev" is newer than the last seq seen: join again with
 * since: after to fetch what was lost), "error" (a C1MError nobody
 * awaited: a server error without a request, a failed rejoin). Any other
 * frame type is emitted under its own type.
 */
export class C1MClient {
  #url;
  #opts;
  #WS;
  #ws = null;
  #state = "idle";
  #listeners = new Map();
  #pending = new Map(); // request id → {resolve, reject, timer}
  #nextId = 1;
  #rooms = new Map(); // room → {presence, lastSeq, joined, wasJoined, waiters}
  #attempt = 0; // failed attempts since the last stable connection
  #timer = null;
  #hintMs = null; // from a shutdown message, for the next reconnect
  #openedAt = 0;
  #opened = 0; // connections opened so far
  #openWaiters = [];

  /**
   * @param {string} url the server's WebSocket URL, e.g. "wss://chat.example.com/ws"
   * @param {object} [options] see DEFAULTS above
   */
  constructor(url, options = {}) {
    this.#url = url;
    this.#opts = { ...DEFAULTS, ...options, backoff: { ...DEFAULTS.backoff, ...(options.backoff || {}) } };
    this.#WS = this.#opts.WebSocket || globalThis.WebSocket;
    if (!this.#WS) throw new C1MError("unsupported", "no WebSocket implementation: pass options.WebSocket");
  }

  /** The connection state: idle, connecting, open, waiting or closed. */
  get state() {
    return this.#state;
  }

  /** How many times a connection was opened again after the first. */
  get reconnects() {
    return Math.max(0, this.#opened - 1);
  }

  /** The rooms this client is in (joined on the current connection). */
  get rooms() {
    return [...this.#rooms].filter(([, r]) => r.joined).map(([name]) => name);
  }

  /** The last seq seen in a room (0 when none). */
  lastSeq(room) {
    return this.#rooms.get(room)?.lastSeq ?? 0;
  }

  /** Calls fn(detail) for every event of type; returns a function that removes it. */
  on(type, fn) {
    if (!this.#listeners.has(type)) this.#listeners.set(type, new Set());
    this.#listeners.get(type).add(fn);
    return () => this.off(type, fn);
  }

  off(type, fn) {
    this.#listeners.get(type)?.delete(fn);
  }

  /**
   * Starts connecting (if idle or closed) and resolves when a connection is
   * open; rejects if close() is called first. It keeps retrying until then.
   */
  connect() {
    if (this.#state === "open") return Promise.resolve();
    const p = new Promise((resolve, reject) => this.#openWaiters.push({ resolve, reject }));
    if (this.#state === "idle" || this.#state === "closed") {
      this.#attempt = 0;
      this.#dial();
    }
    return p;
  }

  /** Closes the connection for good (no reconnect); pending requests reject with "closed". */
  close(code = 1000, reason = "") {
    clearTimeout(this.#timer);
    this.#timer = null;
    const ws = this.#ws;
    this.#ws = null;
    this.#setState("closed", { code, reason });
    this.#failAll(new C1MError("closed", "the client was closed"), true);
    if (ws) {
      try {
        ws.close(code, reason);
      } catch {
        ws.close();
      }
    }
  }

  /**
   * Joins a room; resolves with the server's reply {type:"joined", room,
   * count}. The membership lasts until leave() or close(): after a
   * reconnect the client joins again on its own. Called while not
   * connected, it resolves once the next connection has joined.
   */
  join(room, { presence = this.#opts.presence } = {}) {
    if (this.#state === "closed") return Promise.reject(new C1MError("closed", "the client was closed"));
    let r = this.#rooms.get(room);
    if (!r) {
      r = { presence, lastSeq: 0, joined: false, wasJoined: false, waiters: [] };
      this.#rooms.set(room, r);
    }
    r.presence = presence;
    const p = new Promise((resolve, reject) => r.waiters.push({ resolve, reject }));
    if (this.#state === "open") this.#sendJoin(room, r);
    return p;
  }

  /** Leaves a room; resolves with {type:"left", room}. */
  leave(room) {
    const r = this.#rooms.get(room);
    this.#rooms.delete(room);
    if (r) for (const w of r.waiters.splice(0)) w.reject(new C1MError("left", "left the room before it was joined"));
    if (this.#state !== "open") return Promise.resolve({ type: "left", room });
    return this.#request({ type: "leave", room });
  }

  /** Publishes data (any JSON value) to a room; resolves with the ack {type:"ack", seq}. */
  send(room, data) {
    return this.#request({ type: "room_message", room, data });
  }

  /** Sends data to every device of a user; resolves with the ack {type:"ack", seq}. */
  sendDirect(user, data) {
    return this.#request({ type: "direct_message", to: user, data });
  }

  // --- connection ---

  async #dial() {
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#setState("connecting");
    let token = this.#opts.token;
    try {
      if (typeof token === "function") token = await token();
    } catch (err) {
      this.#emit("error", new C1MError("token", "cannot get a token: " + (err?.message || err)));
      this.#retry(1006, "");
      return;
    }
    if (this.#state !== "connecting") return; // closed meanwhile
    let url = this.#url;
    if (this.#opts.user != null) {
      url += (url.includes("?") ? "&" : "?") + "user=" + encodeURIComponent(this.#opts.user);
    }
    let ws;
    try {
      ws = token ? new this.#WS(url, ["token." + token]) : new this.#WS(url);
    } catch (err) {
      this.#emit("error", new C1MError("bad_url", "cannot open " + url + ": " + (err?.message || err)));
      this.#retry(1006, "");
      return;
    }
    this.#ws = ws;
    const timer = setTimeout(() => {
      if (ws.readyState === 0) ws.close(); // fires close (1006): retried
    }, this.#opts.connectTimeoutMs);
    ws.onopen = () => {
      clearTimeout(timer);
      if (ws === this.#ws) this.#onOpen();
    };
    ws.onmessage = (ev) => {
      if (ws === this.#ws) this.#onFrame(ev.data);
    };
    ws.onclose = (ev) => {
      clearTimeout(timer);
      if (ws === this.#ws) this.#onClose(ev.code, ev.reason, ev.wasClean);
    };
    ws.onerror = () => {}; // a close event follows
  }

  #onOpen() {
    this.#openedAt = Date.now();
    this.#opened++;
    this.#setState("open");
    this.#emit("open", { reconnect: this.#opened > 1 });
    for (const w of this.#openWaiters.splice(0)) w.resolve();
    for (const [room, r] of this.#rooms) this.#sendJoin(room, r);
  }

  #onClose(code, reason, wasClean) {
    this.#ws = null;
    for (const r of this.#rooms.values()) r.joined = false;
    this.#failPending(new C1MError("disconnected", "the connection closed before the reply"));
    this.#emit("close", { code, reason, wasClean });
    if (this.#state === "closed") return;
    if (!this.#opts.shouldReconnect(code, reason)) {
      this.#setState("closed", { code, reason });
      this.#failAll(new C1MError("refused", `the server closed the connection (${code} ${reason})`), false);
      return;
    }
    this.#retry(code, reason);
  }

  // #retry schedules the next attempt: after the server's hint if it gave
  // one (a shutdown message, or a delay named in a close reason), else
  // after an exponential backoff with jitter, capped. The "waiting" event
  // carries the backoff step (attempt, 0 for the first retry after a
  // stable connection) and the delay chosen.
  #retry(code, reason) {
    if (this.#openedAt && Date.now() - this.#openedAt >= this.#opts.stableMs) this.#attempt = 0;
    this.#openedAt = 0;
    let hint = this.#hintMs ?? hintFromReason(reason);
    this.#hintMs = null;
    const attempt = this.#attempt;
    let delay;
    if (hint != null) {
      // The server chose when: not a failure, so the backoff does not grow.
      hint = Math.min(hint, this.#opts.maxHintMs);
      delay = hint * (1 + Math.random() * 0.25); // about the hint, never before it
    } else {
      const b = this.#opts.backoff;
      const cap = Math.min(b.maxMs, b.initialMs * b.factor ** attempt);
      delay = cap / 2 + (Math.random() * cap) / 2;
      this.#attempt++;
    }
    this.#setState("waiting", { attempt, delayMs: Math.round(delay), hinted: hint != null, code, reason });
    this.#timer = setTimeout(() => this.#dial(), delay);
  }

  // --- frames ---

  #onFrame(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      this.#emit("error", new C1MError("bad_frame", "the server sent a frame that is not JSON"));
      return;
    }
    if (msg === null || typeof msg !== "object") return;
    if (msg.id != null && this.#pending.has(msg.id)) {
      const p = this.#pending.get(msg.id);
      this.#pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.type === "error") p.reject(new C1MError(msg.code, msg.message, msg));
      else p.resolve(msg);
      return;
    }
    switch (msg.type) {
      case "message": {
        const r = msg.room != null ? this.#rooms.get(msg.room) : undefined;
        // In a cluster, seq is not contiguous: "prev" names the room's
        // message before this one, so a prev newer than the last seq seen
        // is a hole (messages lost on the way); say so, with what to ask
        // for (join again with since: after).
        if (r && typeof msg.prev === "number" && r.lastSeq > 0 && msg.prev > r.lastSeq) {
          this.#emit("hole", { room: msg.room, after: r.lastSeq, before: msg.seq });
        }
        // A seq lower than the last one means the room's stream started
        // again (the server restarted without history): follow it. A
        // message delivered on one node only while its cluster was away
        // ("local": true) has no seq and moves nothing.
        if (r && typeof msg.seq === "number") r.lastSeq = msg.seq;
        break;
      }
      case "gap": {
        const r = this.#rooms.get(msg.room);
        if (r && typeof msg.to_seq === "number") r.lastSeq = Math.max(r.lastSeq, msg.to_seq);
        break;
      }
      case "shutdown":
        if (typeof msg.reconnect_in_ms === "number" && msg.reconnect_in_ms >= 0) this.#hintMs = msg.reconnect_in_ms;
        break;
      case "error":
        this.#emit("error", new C1MError(msg.code, msg.message, msg));
        return;
      case "joined":
      case "left":
      case "ack":
        return; // the reply to a request that timed out
    }
    this.#emit(msg.type, msg);
  }

  // --- requests ---

  #request(msg) {
    if (this.#state !== "open" || !this.#ws) {
      return Promise.reject(new C1MError("disconnected", "not connected"));
    }
    const id = "c" + this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new C1MError("timeout", `no reply to ${msg.type} within ${this.#opts.ackTimeoutMs} ms`));
      }, this.#opts.ackTimeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#ws.send(JSON.stringify({ ...msg, id }));
    });
  }

  // #sendJoin joins a room, or joins it again after a reconnect (rejoin)
  // asking for what was missed since the last seq seen.
  #sendJoin(room, r) {
    const rejoin = r.wasJoined && !r.joined;
    const msg = { type: "join", room };
    if (r.presence) msg.presence = true;
    if (rejoin && this.#opts.resume && r.lastSeq > 0) msg.since = r.lastSeq;
    this.#request(msg).then(
      (reply) => {
        if (this.#rooms.get(room) !== r) return; // left meanwhile
        r.joined = r.wasJoined = true;
        for (const w of r.waiters.splice(0)) w.resolve(reply);
        this.#emit("joined", { room, count: reply.count, rejoin });
      },
      (err) => {
        if (err.code === "disconnected" || err.code === "closed") return; // joined again on the next connection
        if (this.#rooms.get(room) !== r) return;
        this.#rooms.delete(room);
        const waiters = r.waiters.splice(0);
        for (const w of waiters) w.reject(err);
        if (waiters.length === 0) this.#emit("error", err);
      },
    );
  }

  #failPending(err) {
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.#pending.clear();
  }

  // #failAll rejects everything that waits: requests, joins and connect().
  #failAll(err, forgetRooms) {
    this.#failPending(err);
    for (const r of this.#rooms.values()) for (const w of r.waiters.splice(0)) w.reject(err);
    if (forgetRooms) this.#rooms.clear();
    for (const w of this.#openWaiters.splice(0)) w.reject(err);
  }

  #setState(state, info = {}) {
    const previous = this.#state;
    this.#state = state;
    if (previous !== state || state === "waiting") this.#emit("state", { state, previous, ...info });
  }

  #emit(type, detail) {
    for (const fn of [...(this.#listeners.get(type) || [])]) {
      try {
        fn(detail);
      } catch (err) {
        setTimeout(() => {
          throw err; // a listener's bug surfaces, but does not break the client
        });
      }
    }
  }
}

// hintFromReason reads a reconnect delay from a close reason that names
// one in milliseconds ("reconnect_in_ms=2500", "reconnect in 2500 ms").
function hintFromReason(reason) {
  const m = /reconnect[_ a-z]*?[= ]?(\d+)\s*(?:ms)?\b/i.exec(reason || "");
  return m ? Number(m[1]) : null;
}
