// The status page: live figures from /v1/live, charts, and a demo chat that
// uses /c1m.js like any browser client. No dependencies; every text from the
// network is inserted with textContent.
import { C1MClient } from "/c1m.js";

const $ = (id) => document.getElementById(id);
const KEY_STORE = "c1m.apiKey";
const SVG = "http://www.w3.org/2000/svg";

let info = null;
let apiKey = sessionStorage.getItem(KEY_STORE) || "";

// --- formatting ---

const intFmt = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const fmtInt = (n) => intFmt.format(Math.round(n));
const fmtRate = (n) => (n < 10 ? n.toFixed(1) : fmtInt(n));
function fmtBytes(n) {
  if (n == null) return "–";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return (i === 0 || n >= 100 ? fmtInt(n) : n.toFixed(1)) + " " + u[i];
}
const fmtMs = (s) => (s == null ? "–" : s * 1000 < 10 ? (s * 1000).toFixed(2) : fmtInt(s * 1000));
const fmtPct = (x) => (x * 100).toFixed(x < 0.1 ? 1 : 0) + "%";

function setState(el, text, cls) {
  el.textContent = text;
  el.classList.remove("good", "bad");
  if (cls) el.classList.add(cls);
}

// --- start ---

async function main() {
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await fetch("/v1/info", { cache: "no-store" });
      if (!r.ok) throw new Error("HTTP " + r.status);
      info = await r.json();
      break;
    } catch {
      setState($("live-state"), "server unreachable", "bad");
      await sleep(backoff(attempt));
    }
  }
  $("nodes-name").textContent = info.nodes.join(", ");
  setupKey();
  setupDemo();
  setupPublish();
  startLive();
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function backoff(attempt) {
  const cap = Math.min(10000, 500 * 2 ** attempt);
  return cap / 2 + (Math.random() * cap) / 2;
}

// --- API key ---

function setupKey() {
  $("key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    apiKey = $("key-input").value.trim();
    $("key-input").value = "";
    if (!apiKey) return;
    sessionStorage.setItem(KEY_STORE, apiKey);
    $("key-box").hidden = true;
    updatePublish();
    startLive();
  });
}

function askKey(note) {
  $("key-box").hidden = false;
  $("key-note").textContent = note || "";
  updatePublish();
}

// --- live feed ---

let live = null;
let liveAttempt = 0;
let liveTimer = null;

function startLive() {
  clearTimeout(liveTimer);
  if (live) live.close();
  live = null;
  if (info.key_required && !apiKey) {
    setState($("live-state"), "needs the API key", "bad");
    askKey("");
    return;
  }
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/live");
  live = ws;
  setState($("live-state"), "connecting");
  ws.onopen = () => {
    if (info.key_required) ws.send(JSON.stringify({ type: "auth", key: apiKey }));
  };
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.type === "history") {
      liveAttempt = 0;
      setState($("live-state"), "live", "good");
      points = m.points;
      keep = Math.max(keep, m.points.length);
      intervalMs = m.interval_ms;
      drawCharts();
    } else if (m.type === "live") {
      showFrame(m);
    }
  };
  ws.onclose = (ev) => {
    if (ws !== live) return;
    live = null;
    if (ev.code === 1008) {
      apiKey = "";
      sessionStorage.removeItem(KEY_STORE);
      setState($("live-state"), "key refused", "bad");
      askKey("That key was refused.");
      return;
    }
    const d = backoff(liveAttempt++);
    setState($("live-state"), `reconnecting in ${(d / 1000).toFixed(1)} s`, "bad");
    liveTimer = setTimeout(startLive, d);
  };
}

function showFrame(fr) {
  const t = fr.total;
  $("fig-connections").textContent = fmtInt(t.connections);
  $("fig-rooms").textContent = fmtInt(t.rooms);
  $("fig-users").textContent = fmtInt(t.users);
  $("fig-in").textContent = fmtRate(t.messages_in_per_s);
  $("fig-out").textContent = fmtRate(t.messages_out_per_s);
  $("fig-deliveries").textContent = fmtRate(t.deliveries_per_s);
  $("fig-queued").textContent = fmtBytes(t.queued_bytes);
  $("fig-slow").textContent = fmtInt(t.slow_consumers) + (t.slow_consumers_per_s > 0 ? ` (+${fmtRate(t.slow_consumers_per_s)}/s)` : "");
  $("fig-mem").textContent = fmtBytes(t.memory_per_conn_bytes);
  $("fig-busy").textContent = `${fmtPct(t.loop_busy)} / ${fmtPct(t.loop_busy_max)}`;
  const q = t.ping_rtt;
  $("fig-rtt").textContent = q.count > 0 ? `${fmtMs(q.p50)} / ${fmtMs(q.p90)} / ${fmtMs(q.p99)} ms` : "no pongs yet";
  $("fig-cpu").textContent = `${t.cpu_cores.toFixed(2)} · ${fmtBytes(t.rss_bytes)}`;
  showNodes(fr.nodes);
  points.push({
    ts: fr.ts,
    connections: t.connections,
    messages_in_per_s: t.messages_in_per_s,
    messages_out_per_s: t.messages_out_per_s,
    deliveries_per_s: t.deliveries_per_s,
  });
  if (points.length > keep) points.splice(0, points.length - keep);
  drawCharts();
}

function showNodes(nodes) {
  const body = $("nodes").tBodies[0];
  body.replaceChildren(
    ...nodes.map((n) => {
      const tr = document.createElement("tr");
      const cells = n.up
        ? [n.node, "yes", fmtInt(n.connections), fmtInt(n.rooms), fmtRate(n.messages_in_per_s), fmtRate(n.messages_out_per_s),
           fmtRate(n.deliveries_per_s), fmtBytes(n.queued_bytes), fmtPct(n.loop_busy), fmtBytes(n.rss_bytes)]
        : [n.node, "no: " + (n.error || "unreachable"), "", "", "", "", "", "", "", ""];
      for (const c of cells) {
        const td = document.createElement("td");
        td.textContent = c;
        tr.append(td);
      }
      return tr;
    }),
  );
}

// --- charts: hand-drawn SVG polylines over the last `keep` samples ---

let points = [];
let keep = 300;
let intervalMs = 1000;

// niceMax rounds a maximum up to 1, 2 or 5 × 10^k so that the scale
// reads as a round number.
function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function drawChart(svg, cap, series) {
  const W = 300, H = 80;
  const now = points.length ? points[points.length - 1].ts : Date.now();
  const span = keep * intervalMs;
  let top = 0;
  for (const s of series) for (const p of points) top = Math.max(top, p[s]);
  const max = niceMax(top);
  const kids = [];
  for (const y of [2, H / 2, H - 1]) {
    const l = document.createElementNS(SVG, "line");
    l.setAttribute("class", "grid");
    l.setAttribute("x1", "0");
    l.setAttribute("x2", String(W));
    l.setAttribute("y1", String(y));
    l.setAttribute("y2", String(y));
    kids.push(l);
  }
  series.forEach((s, i) => {
    const pl = document.createElementNS(SVG, "polyline");
    pl.setAttribute("class", "s" + i);
    pl.setAttribute(
      "points",
      points
        .filter((p) => now - p.ts <= span)
        .map((p) => `${(W * (1 - (now - p.ts) / span)).toFixed(1)},${(H - 1 - ((H - 3) * p[s]) / max).toFixed(1)}`)
        .join(" "),
    );
    kids.push(pl);
  });
  svg.replaceChildren(...kids);
  const last = points[points.length - 1];
  const nowText = last ? series.map((s) => fmtRate(last[s])).join(" · ") : "–";
  cap.textContent = `now ${nowText}, scale 0–${fmtInt(max)}, last ${Math.round(span / 60000)} min`;
}

function drawCharts() {
  drawChart($("chart-connections"), $("cap-connections"), ["connections"]);
  drawChart($("chart-messages"), $("cap-messages"), ["messages_in_per_s", "messages_out_per_s"]);
  drawChart($("chart-deliveries"), $("cap-deliveries"), ["deliveries_per_s"]);
}

// --- demo chat ---

let client = null;
let clientKey = "";
let room = "";

function logLine(cls, from, text) {
  const li = document.createElement("li");
  li.className = cls;
  if (from != null) {
    const b = document.createElement("span");
    b.className = "from";
    b.textContent = from;
    li.append(b);
  }
  li.append(document.createTextNode(text));
  const ul = $("chat-log");
  ul.append(li);
  while (ul.children.length > 500) ul.firstChild.remove();
  ul.scrollTop = ul.scrollHeight;
}

function setRoomState(text, cls) {
  setState($("chat-room-state"), text, cls);
  const joined = text === "joined";
  $("chat-text").disabled = !joined;
  $("chat-send").disabled = !joined;
  $("chat-leave").disabled = !room;
}

function setupDemo() {
  $("chat-url").value = info.ws_url;
  if (info.auth === "none") {
    $("chat-user-label").hidden = false;
    $("chat-auth-note").textContent = "This server runs with --auth=none: pick any user name.";
  } else {
    $("chat-token-label").hidden = false;
    $("chat-auth-note").textContent =
      "This server checks tokens (--auth=jwt): paste a JWT whose sub is your user id. " +
      "c1m.js offers it as the subprotocol token.<jwt>; it is never put in the URL.";
  }
  $("chat-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    joinRoom();
  });
  $("chat-leave").addEventListener("click", leaveRoom);
  $("send-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sendText();
  });
}

function newClient(url, user, token) {
  const c = new C1MClient(url, { user, token, presence: true });
  c.on("state", (s) => {
    if (c !== client) return;
    const el = $("chat-state");
    setState(el, s.state, s.state === "open" ? "good" : s.state === "waiting" || s.state === "closed" ? "bad" : "");
    el.dataset.reconnects = String(c.reconnects);
    if (s.state === "waiting") {
      logLine("sys", null, `connection lost (${s.code || "no code"}${s.reason ? ": " + s.reason : ""}); retrying in ${(s.delayMs / 1000).toFixed(1)} s`);
    }
  });
  c.on("close", () => {
    if (c === client && room) setRoomState("rejoining", "bad");
  });
  c.on("joined", (j) => {
    if (c !== client || j.room !== room) return;
    setRoomState("joined", "good");
    $("chat-count").textContent = String(j.count);
    logLine("sys", null, `${j.rejoin ? "rejoined" : "joined"} ${j.room} (${j.count} member${j.count === 1 ? "" : "s"})`);
  });
  c.on("message", (m) => {
    if (c !== client) return;
    const text = m.data && typeof m.data === "object" && typeof m.data.text === "string" ? m.data.text : JSON.stringify(m.data);
    const where = m.to != null ? " (direct)" : m.room !== room ? ` (${m.room})` : "";
    logLine("msg", m.from || "anonymous", text + where);
  });
  c.on("presence", (p) => {
    if (c !== client || p.room !== room) return;
    $("chat-count").textContent = String(p.count);
    for (const u of p.joined || []) logLine("presence", null, `${u} joined`);
    for (const u of p.left || []) logLine("presence", null, `${u} left`);
  });
  c.on("gap", (g) => logLine("sys", null, `missed ${g.missed} message(s) in ${g.room} (seq ${g.from_seq}–${g.to_seq})`));
  c.on("shutdown", (s) => logLine("sys", null, `the server is shutting down; reconnecting in about ${(s.reconnect_in_ms / 1000).toFixed(1)} s`));
  c.on("error", (e) => logLine("err", null, `${e.code}: ${e.message}`));
  return c;
}

async function joinRoom() {
  const url = $("chat-url").value.trim();
  const want = $("chat-room").value.trim();
  if (!url || !want) return;
  let user = null;
  let token = null;
  if (info.auth === "none") {
    user = $("chat-user").value.trim() || "guest-" + Math.floor(Math.random() * 1e4);
    $("chat-user").value = user;
  } else {
    token = $("chat-token").value.trim();
    if (!token) {
      logLine("err", null, "a token is needed to connect to this server");
      return;
    }
  }
  const id = JSON.stringify([url, user, token]);
  if (client && id !== clientKey) {
    client.close();
    client = null;
    room = "";
  }
  if (!client) {
    client = newClient(url, user, token);
    clientKey = id;
    client.connect().catch(() => {});
  }
  if (room && room !== want) {
    const old = room;
    room = "";
    client.leave(old).catch((e) => logLine("err", null, `${e.code}: ${e.message}`));
  }
  room = want;
  setRoomState("joining");
  try {
    await client.join(want, { presence: true });
  } catch (e) {
    if (room === want) {
      room = "";
      setRoomState("not joined", "bad");
    }
    logLine("err", null, `cannot join ${want}: ${e.code}: ${e.message}`);
  }
}

async function leaveRoom() {
  if (!client || !room) return;
  const old = room;
  room = "";
  setRoomState("not joined");
  $("chat-count").textContent = "–";
  try {
    await client.leave(old);
    logLine("sys", null, `left ${old}`);
  } catch (e) {
    logLine("err", null, `${e.code}: ${e.message}`);
  }
}

async function sendText() {
  const text = $("chat-text").value;
  if (!client || !room || !text) return;
  $("chat-text").value = "";
  try {
    await client.send(room, { text });
  } catch (e) {
    logLine("err", null, `not sent (${e.code}): ${e.message}`);
  }
}

// --- publish through the API ---

function setupPublish() {
  $("pub-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = JSON.stringify({ room: $("pub-room").value.trim(), from: "operator", data: { text: $("pub-text").value } });
    const headers = { "Content-Type": "application/json" };
    if (apiKey) headers.Authorization = "Bearer " + apiKey;
    try {
      const r = await fetch("/v1/publish", { method: "POST", headers, body });
      const j = await r.json();
      $("pub-result").textContent = r.ok ? `published, seq ${j.seq}` : `${r.status} ${j.error}: ${j.message}`;
      if (r.status === 401) askKey("That key was refused.");
    } catch (e) {
      $("pub-result").textContent = "cannot reach the API: " + e.message;
    }
  });
  updatePublish();
}

function updatePublish() {
  const allowed = !info.key_required || !!apiKey;
  $("pub-send").disabled = !allowed;
  $("pub-note").textContent = allowed
    ? "Sends through POST /v1/publish to everyone in the room."
    : "Read-only: publishing needs the API key.";
}

main();
