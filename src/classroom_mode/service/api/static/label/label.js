// The labelling page: one clip at a time, one key per mode. All state lives on the server;
// every action posts the clip it acts on, so a double key press cannot label the next clip by accident.
"use strict";

let state = null;
let busy = false;

const $ = (id) => document.getElementById(id);

async function call(path, body) {
  const response = await fetch(path, body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const payload = await response.json();
  if (!response.ok) throw new Error(payload.detail || response.statusText);
  return payload;
}

function render(next) {
  const changed = !state || state.clip !== next.clip;
  state = next;
  $("progress").textContent = next.clip ? `${next.remaining} clip(s) left` : "nothing left to label";
  $("done").hidden = next.clip !== null;
  $("player").hidden = next.clip === null;
  $("name").textContent = next.clip || "";
  const hint = next.suggestion;
  $("suggestion").hidden = !hint;
  $("suggestion-text").textContent = hint ? `Suggested: ${hint.mode} (recorded during the ${hint.phase} phase)` : "";
  if (changed && next.clip) $("video").src = `clip/${encodeURIComponent(next.clip)}`;
  if (!next.clip) $("video").removeAttribute("src");
  const modes = $("modes");
  modes.replaceChildren(...next.modes.map((mode) => {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.mode = mode.name;
    if (hint && hint.mode === mode.name) button.classList.add("suggested");
    button.disabled = next.clip === null;
    button.append(mode.name + " ");
    if (mode.key) { const kbd = document.createElement("kbd"); kbd.textContent = mode.key; button.append(kbd); }
    button.addEventListener("click", () => act("label", mode.name));
    return button;
  }));
  $("skip").disabled = $("trash").disabled = next.clip === null;
  $("undo").disabled = !next.can_undo;
  $("message").textContent = next.message;
  const rows = Object.entries(next.counts).map(([mode, n]) => {
    const tr = document.createElement("tr");
    tr.dataset.mode = mode;
    const name = document.createElement("td"); name.textContent = mode;
    const count = document.createElement("td"); count.textContent = String(n);
    tr.append(name, count);
    return tr;
  });
  $("counts").tBodies[0].replaceChildren(...rows);
}

async function act(action, mode) {
  if (busy) return;
  if (action !== "undo" && !state.clip) return;
  busy = true;
  try {
    const body = action === "undo" ? {} : { clip: state.clip, mode: mode || null };
    render(await call(`api/${action}`, body));
  } catch (error) {
    $("message").textContent = `⚠ ${error.message}`;
    render(await call("api/state"));
  } finally {
    busy = false;
  }
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || !state) return;
  const key = event.key;
  const mode = state.modes.find((m) => m.key === key);
  const action = mode ? ["label", mode.name]
    : key === "Enter" && state.suggestion ? ["label", state.suggestion.mode]
    : key === "s" || key === "S" || key === "ArrowRight" ? ["skip"]
    : key === "u" || key === "U" || key === "Backspace" ? ["undo"]
    : key === "Delete" || key === "x" || key === "X" ? ["trash"]
    : null;
  if (!action) return;
  event.preventDefault();
  act(...action);
});

$("skip").addEventListener("click", () => act("skip"));
$("undo").addEventListener("click", () => act("undo"));
$("trash").addEventListener("click", () => act("trash"));
call("api/state").then(render);
