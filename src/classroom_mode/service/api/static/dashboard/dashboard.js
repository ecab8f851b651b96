// classroom-mode dashboard: plain JavaScript, no build step, nothing fetched from outside this server.
//
// Each page loads one JSON view from /dashboard/api/..., draws it, and reloads it when the API's
// server-sent event stream (/api/events) reports a mode change, a camera going on- or offline or a
// surprise alert. The stream reconnects by itself (with back-off) and every (re)connection reloads the
// view, so nothing missed while disconnected stays missing. A slow timer also reloads the view, for
// what changes without an event (probabilities, the surprise sparkline, "since … · 12 min").
//
// A room state or camera status holds only until its `fresh_until` (judged by the server from the
// config's thresholds): at that instant the card greys out and says since when nothing arrived, with no
// new request, and while something on it can turn fresh without an event the view is reloaded every second, so a fresh
// reading shows at once. Mode icons are drawn as SVG here, so a machine without a colour emoji font
// (a Raspberry Pi kiosk) shows them as well as any other.
//
// A room or camera that is not watched (outside its active hours, or paused) says so instead of a mode or an
// offline dot. The Pause / Resume buttons post to the API's control endpoints with the API token, which the
// page asks for once (when the server wants one) and keeps for this browser tab only.
"use strict";

(() => {
  const EVENTS_URL = "/api/events";
  const EVENT_NAMES = ["mode_change", "camera_status", "surprise_alert"];
  const REFRESH_MS = 10000;
  const STALE_REFRESH_MS = 1000;
  const RETRY_MIN_MS = 250;
  const RETRY_MAX_MS = 10000;
  const LEVEL_COLORS = { normal: "#22c55e", unusual: "#f59e0b", anomaly: "#ef4444" };

  const page = document.body.dataset.page;
  const subject = document.body.dataset.subject;
  const main = document.getElementById("main");
  const liveBadge = document.getElementById("live");

  // ---- small helpers ----------------------------------------------------------------------------

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "style" && typeof value === "object") Object.assign(el.style, value);
      else if (key.startsWith("--")) el.style.setProperty(key, value);
      else el.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  const SVG_NS = "http://www.w3.org/2000/svg";
  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, value);
    for (const child of children.flat()) if (child) el.append(child);
    return el;
  }

  const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  const fmtTime = (iso) => clock.format(new Date(iso));
  const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  const pct = (x) => `${Math.round(x * 100)} %`;

  function fmtDuration(ms) {
    const minutes = Math.floor(Math.max(0, ms) / 60000);
    if (minutes < 1) return "just now";
    if (minutes < 60) return `${minutes} min`;
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return `${hours} h ${String(minutes % 60).padStart(2, "0")} min`;
    return `${Math.floor(hours / 24)} days`;
  }

  function setLive(state, text, title = "") {
    liveBadge.dataset.state = state;
    liveBadge.textContent = text;
    liveBadge.title = title;
  }

  function modeIndex(modes) {
    const byName = new Map(modes.map((m) => [m.name, m]));
    return (name) =>
      byName.get(name) || { name, display_name: name, emoji: "", ambience: "unchanged", color: "#94a3b8" };
  }

  // The server's clock, as of the last view it sent: freshness deadlines are server instants.
  let serverOffset = 0;
  const serverNow = () => Date.now() - serverOffset;
  const expired = (record) => Boolean(record && record.fresh_until) && serverNow() > Date.parse(record.fresh_until);
  const isStale = (state) => state.stale || expired(state);
  const isOnline = (status) => status.online && !expired(status);
  let pageStale = false; // set while drawing: something on the page is stale or offline

  // Keep <img> elements across redraws so a reload does not re-request an unchanged frame.
  const images = new Map();
  function img(src, alt, cls) {
    if (!images.has(src)) images.set(src, h("img", { src, alt, class: cls, decoding: "async" }));
    return images.get(src);
  }
  function forgetImagesExcept(root) {
    const kept = new Set([...root.querySelectorAll("img")].map((el) => el.getAttribute("src")));
    for (const src of images.keys()) if (!kept.has(src)) images.delete(src);
  }

  // Mode icons as SVG, so they need no emoji font; a mode without its own icon gets its initial in a ring.
  const person = (x, y, r) => [
    s("circle", { cx: x, cy: y - 1.7 * r, r: 0.75 * r }),
    s("path", { d: `M${x - r} ${y + 1.3 * r}v${-r}a${r} ${r} 0 0 1 ${2 * r} 0v${r}z` }),
  ];
  const outline = { fill: "none", stroke: "currentColor", "stroke-width": 2 };
  const ICONS = {
    empty: () => [s("rect", { x: 3, y: 5, width: 18, height: 14, rx: 2, ...outline })],
    solo: () => person(12, 15, 4.2),
    group: () => [...person(5.5, 16, 3), ...person(18.5, 16, 3), ...person(12, 14, 3.4)],
    presentation: () => [s("rect", { x: 2, y: 3, width: 12, height: 8, rx: 1, ...outline }), ...person(18.5, 16, 3)],
    uncertain: () => [s("circle", { cx: 12, cy: 12, r: 10, ...outline }), s("path", { d: "M9 9.5a3 3 0 1 1 4 2.8c-.7.3-1 .8-1 1.7v.5", ...outline }), s("circle", { cx: 12, cy: 17.5, r: 1.3 })],
    waiting: () => [s("circle", { cx: 12, cy: 12, r: 10, ...outline }), s("path", { d: "M12 6v6l4 3", ...outline })],
  };
  function icon(name, label) {
    const initial = () => [s("circle", { cx: 12, cy: 12, r: 10, ...outline }),
      s("text", { x: 12, y: 16.5, "text-anchor": "middle", "font-size": 12, "font-weight": 700 },
        document.createTextNode((label || name || "?").slice(0, 1).toUpperCase()))];
    return s("svg", { class: "icon", viewBox: "0 0 24 24", fill: "currentColor", "aria-hidden": "true",
      "data-icon": name in ICONS ? name : "initial" }, (ICONS[name] || initial)());
  }
  const glyph = (mode) => h("span", { class: "glyph" }, icon(mode.name, mode.display_name));

  function emptyState(title, ...lines) {
    return h("div", { class: "empty-state" }, h("h2", {}, title), lines.map((line) => h("p", {}, line)));
  }

  // ---- charts -----------------------------------------------------------------------------------

  function lineChart({ series, width, height, yMin, yMax, guides = [], dots = [], className }) {
    const lo = Math.min(yMin, ...series.flatMap((l) => l.values.filter((v) => v !== null)));
    const hi = Math.max(yMax, ...series.flatMap((l) => l.values.filter((v) => v !== null)));
    const span = hi - lo || 1;
    const count = Math.max(...series.map((l) => l.values.length), 2);
    const x = (i) => (i / (count - 1)) * width;
    const y = (v) => height - 2 - ((v - lo) / span) * (height - 4);
    const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", class: className });
    for (const g of guides) {
      svg.append(s("line", { x1: 0, x2: width, y1: y(g.value), y2: y(g.value), class: `guide ${g.cls}` }));
    }
    for (const line of series) {
      const points = line.values.map((v, i) => (v === null ? null : `${x(i).toFixed(1)},${y(v).toFixed(1)}`));
      const path = points.filter(Boolean).join(" ");
      if (path) svg.append(s("polyline", { points: path, class: `series ${line.cls}`, "vector-effect": "non-scaling-stroke" }));
    }
    for (const d of dots) {
      // a zero-length line with round caps stays a circle when the chart is stretched to its box
      const [cx, cy] = [x(d.index).toFixed(1), y(d.value).toFixed(1)];
      svg.append(s("line", { x1: cx, y1: cy, x2: cx, y2: cy, stroke: d.color, class: "dot" }));
    }
    return svg;
  }

  function levelBadge(level) {
    return h("span", { class: `level level-${level}`, "--level": LEVEL_COLORS[level] || "#94a3b8" }, level);
  }

  function probabilityBars(probabilities, modes, describe) {
    const names = [...modes.filter((m) => m.name in probabilities).map((m) => m.name),
      ...Object.keys(probabilities).filter((n) => !modes.some((m) => m.name === n))];
    return h("ul", { class: "probs", "aria-label": "class probabilities" },
      names.map((name) => {
        const mode = describe(name);
        const p = probabilities[name];
        return h("li", { "--mode": mode.color },
          h("span", { class: "prob-name" }, glyph(mode), mode.display_name),
          h("span", { class: "prob-track" }, h("span", { class: "prob-fill", style: { width: `${(p * 100).toFixed(1)}%` } })),
          h("span", { class: "prob-value" }, pct(p)));
      }));
  }

  // ---- rooms page -------------------------------------------------------------------------------

  function modeCard(room, state, describe, now) {
    if (!state) {
      return h("div", { class: "card card-waiting", "data-mode": "" },
        h("div", { class: "room-name" }, room.room),
        h("div", { class: "mode-line" }, h("span", { class: "emoji" }, icon("waiting")),
          h("span", { class: "mode-name" }, "No readings yet")),
        h("p", { class: "ambience" }, "The room's mode appears here after its cameras deliver the first clips."));
    }
    const mode = describe(state.mode);
    const since = new Date(state.since);
    if (state.watch && state.watch !== "watching") return idleCard(room, state, mode);
    const stale = isStale(state);
    pageStale ||= stale;
    return h("div", { class: `card${stale ? " card-stale" : ""}`, "data-mode": state.mode, "--mode": mode.color,
      "data-stale": stale ? "true" : "false" },
      h("div", { class: "room-name" }, room.room),
      stale && h("p", { class: "stale-note" },
        `No reading since ${fmtTime(state.updated_at)} (${fmtDuration(now - Date.parse(state.updated_at))} ago): `
        + "this was the room's mode then, not necessarily now."),
      h("div", { class: "mode-line" },
        h("span", { class: "emoji" }, icon(state.mode, state.display_name || mode.display_name)),
        h("span", { class: "mode-name" }, state.display_name || mode.display_name)),
      h("div", { class: "ambience" }, "ambience: ", state.ambience),
      h("div", { class: "meta" },
        h("span", { class: "confidence", title: "confidence" }, pct(state.confidence)),
        h("span", { class: "since" }, `since ${fmtTime(state.since)} · ${fmtDuration(now - since)}`)),
      state.offline_cameras.length > 0 && h("div", { class: "warnings" },
        h("span", { class: "badge" }, `camera offline: ${state.offline_cameras.join(", ")}`)),
      pauseButton("room", room.room, false));
  }

  const WATCH_NAMES = { "off-hours": "Off hours", paused: "Paused" };
  const WATCH_NOTES = {
    "off-hours": "Outside the room's active hours: its cameras are released and nothing is encoded or recorded.",
    paused: "Paused: its cameras are released and nothing is encoded or recorded until it is resumed.",
  };

  function idleCard(room, state, mode) {
    return h("div", { class: "card card-idle", "data-mode": state.mode, "data-watch": state.watch },
      h("div", { class: "room-name" }, room.room),
      h("div", { class: "mode-line" }, h("span", { class: "mode-name" }, WATCH_NAMES[state.watch] || state.watch)),
      h("p", { class: "ambience" }, WATCH_NOTES[state.watch] || ""),
      h("div", { class: "meta" }, `last mode: ${state.display_name || mode.display_name}`),
      pauseButton("room", room.room, state.watch === "paused"));
  }

  // A Pause or Resume button; clicks are handled once for the whole page (see `control`).
  function pauseButton(kind, name, paused) {
    return h("button", { type: "button", class: "control", "data-control": kind, "data-name": name,
      "data-pause": paused ? "false" : "true" }, paused ? "Resume" : "Pause");
  }

  // Full hours between start and now, every 1, 2, 3, 4, 6 or 12 h so that at most six are labelled.
  function hourTicks(start, now) {
    const hour = 3600000;
    const step = [1, 2, 3, 4, 6, 12].find((n) => (now - start) / (n * hour) <= 6) || 24;
    const first = new Date(start);
    first.setMinutes(0, 0, 0);
    const ticks = [];
    for (let t = first.getTime() + hour; t < now; t += hour) {
      if (new Date(t).getHours() % step === 0) ticks.push(t);
    }
    return ticks;
  }

  // The lesson phases the class's room server announced, under the modes they framed.
  function phaseRow(phases, start, span) {
    if (phases.length === 0) return null;
    return h("div", { class: "phases", "aria-label": "lesson phases: "
      + phases.map((p) => `${p.phase} from ${fmtTime(p.at)}`).join(", ") },
      phases.map((p) => h("span", { class: "phase", title: `phase ${p.phase} from ${fmtTime(p.at)}`,
        style: { left: `${Math.min(Math.max(((Date.parse(p.at) - start) / span) * 100, 0), 100)}%` } }, p.phase)));
  }

  function timelineView(bands, phases, describe, now) {
    if (bands.length === 0) return h("p", { class: "muted" }, "No mode recorded today yet.");
    const start = new Date(bands[0].start).getTime();
    const span = Math.max(now - start, 1);
    const seen = new Map();
    const strip = h("div", { class: "timeline", role: "img",
      "aria-label": bands.map((b) => `${describe(b.mode).display_name} from ${fmtTime(b.start)}`).join(", ") },
      bands.map((band) => {
        const mode = describe(band.mode);
        seen.set(band.mode, mode);
        const left = ((new Date(band.start).getTime() - start) / span) * 100;
        const width = ((new Date(band.end).getTime() - new Date(band.start).getTime()) / span) * 100;
        return h("span", { class: "band", "--mode": mode.color,
          style: { left: `${left}%`, width: `${Math.max(width, 0.4)}%` },
          title: `${mode.display_name} ${fmtTime(band.start)}–${fmtTime(band.end)}` });
      }));
    const ticks = hourTicks(start, now).map((t) => ({ t, left: ((t - start) / span) * 100 }));
    strip.append(...ticks.map(({ left }) => h("i", { class: "tick", style: { left: `${left}%` } })));
    return h("div", { class: "timeline-wrap" }, strip, phaseRow(phases, start, span),
      h("div", { class: "axis axis-ticks" },
        h("span", {}, fmtTime(bands[0].start)),
        ticks.filter(({ left }) => left > 12 && left < 88).map(({ t, left }) =>
          h("span", { class: "tick-label", style: { left: `${left}%` } }, fmtTime(new Date(t).toISOString()))),
        h("span", {}, "now")),
      h("div", { class: "legend" }, [...seen.values()].map((m) =>
        h("span", { "--mode": m.color }, h("i", { class: "swatch" }), glyph(m), m.display_name))));
  }

  function statusLine(status) {
    if (!status) return h("span", { class: "status status-unknown" }, h("i", { class: "dot" }), "no status yet");
    if (status.watch && status.watch !== "watching") {
      return h("span", { class: "status status-idle", title: WATCH_NOTES[status.watch] || "" },
        h("i", { class: "dot" }), status.watch === "paused" ? "paused" : "off hours");
    }
    if (isOnline(status)) return h("span", { class: "status status-online" }, h("i", { class: "dot" }), "online");
    // offline as its worker said: its coming back is an event; offline by the clock: only a poll can tell
    pageStale ||= status.online;
    // offline by the clock: since the instant its last frame stopped counting
    const since = status.online ? status.fresh_until : status.since;
    return h("span", { class: "status status-offline", title: status.last_error || "" },
      h("i", { class: "dot" }), `offline since ${fmtTime(since)}`);
  }

  function cameraRow(camera, data) {
    const readings = camera.surprise;
    const latest = readings[readings.length - 1];
    const thumb = camera.thumbnail
      ? img(camera.thumbnail, `latest frame from ${camera.camera_id}`, "thumb")
      : camera.snapshot
        ? h("div", { class: "thumb thumb-empty", title: "frames are shown while the live loop runs in this server" }, "no frame")
        : h("div", { class: "thumb thumb-empty", title: "this camera's live picture is switched off in the config" }, "picture off");
    return h("li", { class: "camera" },
      h("a", { href: `/cameras/${encodeURIComponent(camera.camera_id)}`, class: "thumb-link" }, thumb),
      h("div", { class: "camera-body" },
        h("div", { class: "camera-head" },
          h("a", { href: `/cameras/${encodeURIComponent(camera.camera_id)}`, class: "camera-name" }, camera.camera_id),
          statusLine(camera.status),
          pauseButton("camera", camera.camera_id, camera.status?.watch === "paused")),
        readings.length === 0
          ? h("div", { class: "muted small" }, "no surprise readings yet")
          : h("div", { class: "spark" },
            lineChart({
              series: [{ values: readings.map((r) => r.score), cls: "score" }],
              width: 200, height: 36, yMin: 0, yMax: data.surprise_unusual,
              guides: [{ value: data.surprise_unusual, cls: "unusual" }],
              dots: readings.map((r, i) => ({ index: i, value: r.score, color: LEVEL_COLORS[r.level] }))
                .filter((_, i) => readings[i].level !== "normal"),
              className: "sparkline",
            }),
            h("span", { class: "spark-label" }, "surprise ", levelBadge(latest.level)))));
  }

  function roomSection(room, data, describe, now) {
    return h("section", { class: "room", "data-room": room.room, "aria-label": `room ${room.room}` },
      modeCard(room, room.state, describe, now),
      h("div", { class: "panel" },
        room.state && h("div", { class: "block" }, h("h3", {}, "Probabilities"),
          probabilityBars(room.state.probabilities, data.modes, describe)),
        h("div", { class: "block" }, h("h3", {}, "Today"), timelineView(room.timeline, room.phases, describe, now)),
        h("div", { class: "block" }, h("h3", {}, "Cameras"),
          h("ul", { class: "cameras" }, room.cameras.map((c) => cameraRow(c, data))))));
  }

  function drawRooms(data) {
    const now = serverNow();
    const describe = modeIndex(data.modes);
    if (data.rooms.length === 0) {
      return emptyState("No rooms configured",
        "Add a room with at least one camera under rooms: in classroom-mode.yaml, then restart the server.",
        "`classroom-mode config check classroom-mode.yaml` tells you whether the file is valid.");
    }
    const layout = data.rooms.length === 1 ? "rooms single" : "rooms";
    return h("div", {},
      !data.live && h("p", { class: "banner", role: "note" },
        "This server shows the stored history and measures nothing itself: a room stays current only while "
        + "`classroom-mode run` (or `serve --live`) writes to its database."),
      h("div", { class: layout }, data.rooms.map((room) => roomSection(room, data, describe, now))),
      data.outputs.length > 0 && outputsSection(data.outputs));
  }

  // What the room's devices are hearing: one line per configured sink (from /api/outputs, refreshed with the page).
  function outputsSection(sinks) {
    const stateLine = (sink) => {
      if (sink.state === "retrying") {
        return h("span", { class: "status status-offline", title: sink.last_error || "" },
          h("i", { class: "dot" }), `retrying since ${fmtTime(sink.retrying_since)}`);
      }
      if (sink.state === "stopped") {
        return h("span", { class: "status status-unknown", title: "no delivery worker runs in this server" },
          h("i", { class: "dot" }), "not delivering here");
      }
      return h("span", { class: "status status-online" }, h("i", { class: "dot" }), "connected");
    };
    return h("section", { class: "outputs", "aria-label": "outputs" },
      h("h3", {}, "Outputs"),
      h("ul", {}, sinks.map((sink) => h("li", { class: "output", "data-sink": sink.name },
        h("span", { class: "output-name" }, sink.name), h("span", { class: "muted small" }, ` ${sink.kind} → ${sink.target}`),
        " ", stateLine(sink),
        h("div", { class: "muted small" },
          sink.last_delivery_at ? `last delivery ${fmtTime(sink.last_delivery_at)}` : "nothing delivered yet",
          sink.pending ? ` · ${sink.pending} waiting` : "",
          sink.parked ? ` · ${sink.parked} parked (${sink.last_parked_error})` : "",
          sink.state === "retrying" && sink.last_error ? ` · ${sink.last_error}` : "",
          sink.detail ? ` · ${sink.detail}` : "")))));
  }

  // ---- camera page ------------------------------------------------------------------------------

  function drawCamera(data) {
    const describe = modeIndex(data.modes);
    const readings = data.surprise;
    const latest = data.latest;
    const baseline = readings.map((r) => (r.baseline === null ? null : r.baseline));
    return h("div", { class: "camera-page" },
      h("h1", {}, `Camera ${data.camera_id}`, h("small", {}, ` in room ${data.room}`), " ", statusLine(data.status),
        " ", pauseButton("camera", data.camera_id, data.status?.watch === "paused")),
      h("div", { class: "grid2" },
        h("div", { class: "block" }, h("h3", {}, "Latest reading"),
          latest
            ? h("div", {},
              h("p", { class: "reading" }, glyph(describe(latest.label)), describe(latest.label).display_name,
                h("span", { class: "muted" }, ` ${pct(latest.confidence)} at ${fmtTime(latest.at)}`)),
              latest.uncertain_reason && h("p", { class: "muted" }, `uncertain: ${latest.uncertain_reason}`),
              probabilityBars(latest.probabilities, data.modes, describe))
            : h("p", { class: "muted" }, "No reading from this camera yet.")),
        h("div", { class: "block" }, h("h3", {}, "What the probe looked at"),
          data.attention
            ? img(data.attention, "the probe's attention over the middle frame of the last clip", "attention")
            : h("p", { class: "muted" }, data.strip
              ? "This probe has no attention map (only the attentive probe has one)."
              : data.snapshot
                ? "Shown while the live loop runs in this server and the camera has delivered a clip."
                : "Not shown: this camera's live picture is switched off in the config (snapshot: false)."))),
      h("div", { class: "block" }, h("h3", {}, "Last clip"),
        data.strip
          ? h("div", { class: "strip-wrap" }, img(data.strip, "frames of the last clip, left to right", "strip"))
          : h("p", { class: "muted" }, data.snapshot
            ? "No clip held by this server yet (frames are kept only by a live loop running in `serve`)."
            : "Not shown: this camera's live picture is switched off in the config (snapshot: false).")),
      h("div", { class: "block" }, h("h3", {}, "Surprise against the camera's baseline"),
        readings.length === 0
          ? h("p", { class: "muted" }, "No surprise readings yet.")
          : h("div", {},
            lineChart({
              series: [{ values: readings.map((r) => r.energy), cls: "energy" }, { values: baseline, cls: "baseline" }],
              width: 800, height: 220, yMin: Infinity, yMax: -Infinity,
              dots: readings.map((r, i) => ({ index: i, value: r.energy, color: LEVEL_COLORS[r.level] }))
                .filter((_, i) => readings[i].level !== "normal"),
              className: "history",
            }),
            h("div", { class: "axis" },
              h("span", {}, fmtTime(readings[0].at)),
              h("span", {}, `energy ${Math.min(...readings.map((r) => r.energy)).toFixed(3)} – ${Math.max(...readings.map((r) => r.energy)).toFixed(3)}`),
              h("span", {}, fmtTime(readings[readings.length - 1].at))),
            h("div", { class: "legend" },
              h("span", { class: "key-energy" }, h("i", { class: "swatch" }), "energy (prediction error)"),
              h("span", { class: "key-baseline" }, h("i", { class: "swatch" }), "baseline (rolling median)"),
              h("span", {}, "latest: ", levelBadge(readings[readings.length - 1].level),
                ` score ${readings[readings.length - 1].score.toFixed(1)}`)))));
  }

  // ---- probe page -------------------------------------------------------------------------------

  function drawProbes(probes) {
    if (probes.length === 0) {
      return emptyState("No probe configured",
        "Train one with `classroom-mode train DATA_DIR --out .classroom-mode/probes/ROOM.safetensors`,",
        "then set probe: under the room in classroom-mode.yaml.");
    }
    return h("div", { class: "probes" }, probes.map((p) => h("section", { class: "block probe" },
      h("h2", {}, p.rooms.join(", "), h("small", {}, ` ${p.path}`)),
      !p.found
        ? h("p", { class: "muted" }, "This probe has not been trained yet (no metadata next to it).")
        : p.problem ? h("p", { class: "muted" }, p.problem) : probeDetails(p))));
  }

  function probeDetails(p) {
    const facts = [
      ["probe", p.kind],
      ["modes", p.classes.join(", ")],
      ["backbone", p.backbone && `${p.backbone}${p.random_weights ? " (random weights: not a trained model)" : ""}`],
      ["trained", p.created && dateTime.format(new Date(p.created))],
      ["evaluated by", p.scheme && `${p.scheme} cross-validation`],
      ...Object.entries(p.metrics).map(([k, v]) => [k.replace("_", "-"), pct(v)]),
    ].filter(([, v]) => v);
    return h("div", {},
      h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      Object.keys(p.metrics).length === 0 && h("p", { class: "muted" }, "Trained without a cross-validation report."),
      p.warnings.length > 0 && h("ul", { class: "warnings-list" }, p.warnings.map((w) => h("li", {}, w))),
      h("div", { class: "plots" },
        p.confusion ? img(p.confusion, "confusion matrix", "plot") : h("p", { class: "muted" }, "No confusion matrix in the metadata."),
        p.learning_curve ? img(p.learning_curve, "learning curve", "plot") : h("p", { class: "muted" }, "No learning curve in the metadata.")));
  }

  // ---- loading and live updates -----------------------------------------------------------------

  const VIEWS = {
    rooms: { url: () => "/dashboard/api/overview", draw: drawRooms, live: true },
    camera: { url: () => `/dashboard/api/cameras/${encodeURIComponent(subject)}`, draw: drawCamera, live: true },
    probe: { url: () => "/dashboard/api/probes", draw: drawProbes, live: false },
  };

  let loading = false;
  let again = false;
  let lastData = null;
  let expiry = null;
  let staleWatch = null;

  const sameView = (a, b) => JSON.stringify({ ...a, now: null }) === JSON.stringify({ ...b, now: null });

  // Draw the last view; redraw it when the next freshness deadline on the page passes, and reload every
  // second while anything on it is stale (a fresh reading then shows within a second).
  let lastDrawn = 0;
  function draw(view) {
    lastDrawn = Date.now();
    pageStale = false;
    main.replaceChildren(view.draw(lastData));
    main.setAttribute("aria-busy", "false");
    forgetImagesExcept(main);
    clearTimeout(expiry);
    const deadlines = JSON.stringify(lastData).match(/"fresh_until":"[^"]+"/g) || [];
    const next = Math.min(...deadlines.map((d) => Date.parse(d.slice(15, -1))).filter((t) => t > serverNow()));
    if (Number.isFinite(next)) expiry = setTimeout(() => draw(view), next - serverNow() + 50);
    if (pageStale && staleWatch === null) staleWatch = setInterval(() => reload(view), STALE_REFRESH_MS);
    if (!pageStale && staleWatch !== null) {
      clearInterval(staleWatch);
      staleWatch = null;
    }
  }
  async function reload(view) {
    if (loading) {
      again = true;
      return;
    }
    loading = true;
    try {
      const response = await fetch(view.url(), { cache: "no-store", headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
      const data = await response.json();
      if (data.now) serverOffset = Date.now() - Date.parse(data.now);
      // a stale page's one-second poll that brings nothing new leaves the page as it is (elements, focus and
      // hover stay put); the slow refresh still redraws, for the "12 min" that moves on by itself
      const same = lastData !== null && sameView(lastData, data) && Date.now() - lastDrawn < REFRESH_MS / 2;
      lastData = data;
      if (!same) draw(view);
      if (liveBadge.dataset.state === "offline") showStream(view);
    } catch (error) {
      if (main.getAttribute("aria-busy") === "true") {
        main.replaceChildren(emptyState("Cannot reach the server", `It will retry by itself (${error.message}).`));
      }
      setLive("offline", "server unreachable");
    } finally {
      loading = false;
      if (again) {
        again = false;
        reload(view);
      }
    }
  }

  let streamOpen = false;
  function showStream(view) {
    if (!view.live) setLive("idle", "");
    else if (streamOpen) setLive("live", "live", "this page's event stream from the server is connected");
    else setLive("reconnecting", "reconnecting…");
  }

  function listen(view) {
    let retry = RETRY_MIN_MS;
    const open = () => {
      const source = new EventSource(EVENTS_URL);
      source.onopen = () => {
        retry = RETRY_MIN_MS;
        streamOpen = true;
        showStream(view);
        reload(view); // catch up on whatever changed while the stream was down
      };
      const changed = () => reload(view);
      for (const name of EVENT_NAMES) source.addEventListener(name, changed);
      source.onerror = () => {
        // The server ended the stream or cannot be reached: reconnect on our own schedule, not the browser's.
        source.close();
        streamOpen = false;
        showStream(view);
        setTimeout(open, retry);
        retry = Math.min(retry * 2, RETRY_MAX_MS);
      };
    };
    open();
  }

  // Pause or resume through the API; a 401 asks for the API token once and tries again with it.
  const TOKEN_KEY = "classroom-mode-api-token";
  async function control(button, view) {
    const kind = button.dataset.control;
    const path = kind === "room" ? "rooms" : "cameras";
    const action = button.dataset.pause === "true" ? "pause" : "resume";
    const url = `/api/${path}/${encodeURIComponent(button.dataset.name)}/${action}`;
    button.disabled = true;
    try {
      for (let attempt = 0; attempt < 2; attempt += 1) {
        const token = sessionStorage.getItem(TOKEN_KEY);
        const headers = token ? { Authorization: `Bearer ${token}` } : {};
        const response = await fetch(url, { method: "POST", headers });
        if (response.status === 401 && attempt === 0) {
          const given = window.prompt("API token (the value of the variable server.api_token_env names):");
          if (!given) return;
          sessionStorage.setItem(TOKEN_KEY, given.trim());
          continue;
        }
        if (!response.ok) {
          const body = await response.json().catch(() => ({}));
          window.alert(`Could not ${action} ${kind} ${button.dataset.name}: ${body.detail || response.statusText}`);
        }
        break;
      }
    } finally {
      button.disabled = false;
      reload(view);
    }
  }

  function start() {
    for (const link of document.querySelectorAll("[data-nav]")) {
      if (link.dataset.nav === page) link.setAttribute("aria-current", "page");
    }
    if (page === "missing") {
      main.replaceChildren(emptyState(`No camera called “${subject}”`, "Pick a camera from the rooms page."));
      main.setAttribute("aria-busy", "false");
      setLive("idle", "");
      return;
    }
    const view = VIEWS[page];
    main.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-control]");
      if (button) control(button, view);
    });
    reload(view);
    if (!view.live) {
      showStream(view);
      return;
    }
    listen(view);
    setInterval(() => reload(view), REFRESH_MS);
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) reload(view);
    });
  }

  start();
})();
