// The sandbox page: shows what the built-in Slack holds for one person, and sends what
// they do to the sandbox's JSON API, which signs it and hands it to the real bot.
// Everything is built with DOM calls and textContent: no text from a message is ever
// parsed as HTML.
"use strict";

const EMOJI = {
  white_check_mark: "✅", warning: "⚠️", zzz: "💤", wrench: "🔧", wave: "👋", tada: "🎉",
  stopwatch: "⏱️", palm_tree: "🌴", package: "📦", floppy_disk: "💾", calendar: "📆",
  muscle: "💪", sparkles: "✨", bell: "🔔", no_bell: "🔕", clock9: "🕘", x: "❌",
  heavy_check_mark: "✔️", thumbsup: "👍", "+1": "👍", fire: "🔥", bulb: "💡", star: "⭐",
  person_in_lotus_position: "🧘", walking: "🚶", runner: "🏃", trophy: "🏆", seedling: "🌱",
  information_source: "ℹ️", hourglass: "⌛", coffee: "☕", raised_hands: "🙌", eyes: "👀",
};
const CHIPS = [
  "/psoas", "/psoas half-kneel", "/psoas list", "/psoas on", "/psoas status",
  "/psoas stats", "/psoas quiet 12:00-13:00", "/psoas every 30m", "/psoas forget me",
];

const page = {
  user: localStorage.getItem("psoas-sandbox-user") || "U0ANA",
  tab: "messages",
  version: -1,
  people: [],
  shown: { channel: new Map(), dm: new Map() },
  homeKey: "",
  modalKey: "",
  dmSeen: 0,
  pending: 0,
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// ---- Talking to the sandbox ------------------------------------------------------------

async function call(path, body) {
  page.pending += 1;
  document.body.dataset.busy = "true";
  try {
    const response = await fetch("/sandbox/api/" + path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: page.user, ...body }),
    });
    const answer = await response.json();
    if (!response.ok) {
      showNote(answer.error || "The sandbox could not do that.", true);
      return;
    }
    if (answer.note) showNote(answer.note, false);
    render(answer.state);
  } catch (error) {
    showNote("The sandbox is not answering: is `psoas-bot sandbox` still running?", true);
  } finally {
    page.pending -= 1;
    if (!page.pending) delete document.body.dataset.busy;
  }
}

async function refresh() {
  if (page.pending) return;
  try {
    const response = await fetch("/sandbox/api/state?user=" + encodeURIComponent(page.user));
    if (response.ok) render(await response.json());
  } catch (error) {
    // The next poll tries again.
  }
}

function showNote(text, isError) {
  const note = $("note");
  note.textContent = text;
  note.classList.toggle("error", Boolean(isError));
  note.hidden = false;
}

function send(conversation, text) {
  if (!text.trim()) return Promise.resolve();
  return call("command", { conversation, text });
}

function click(context, blockId, element, choice, control) {
  if (control) control.disabled = true;
  return call("click", {
    surface: context.surface,
    message_id: context.messageId || "",
    block_id: blockId,
    action_id: element.action_id,
    choice: choice || null,
  }).finally(() => {
    if (control && control.isConnected) control.disabled = false;
  });
}

// ---- Slack's mrkdwn -------------------------------------------------------------------

function decode(text) {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

function emojify(text) {
  return text.replace(/:([a-z0-9_+-]+):/g, (whole, name) => EMOJI[name] || whole);
}

function personName(userId) {
  const person = page.people.find((p) => p.id === userId);
  return person ? person.name : userId;
}

// <https://x|label>, <@U123>, <#C123|name>, <!here>
function link(inner) {
  const [target, label] = inner.split("|");
  if (target.startsWith("@")) return el("b", { class: "mention", text: "@" + personName(target.slice(1)) });
  if (target.startsWith("#")) return el("b", { text: "#" + (label || target.slice(1)) });
  if (target.startsWith("!")) return el("b", { text: "@" + target.slice(1) });
  if (/^(https?:|mailto:)/.test(target)) {
    return el("a", { href: target, target: "_blank", rel: "noopener noreferrer", text: decode(label || target) });
  }
  return document.createTextNode(decode(inner));
}

const STYLES = [
  { mark: "*", tag: "b" },
  { mark: "_", tag: "i" },
  { mark: "~", tag: "s" },
];

// Bold, italic and strike: a mark that opens after a non-word character and closes
// before one, as Slack reads them.
function styled(text) {
  const out = [];
  let rest = text;
  while (rest) {
    let best = null;
    for (const style of STYLES) {
      const m = style.mark.replace(/[*~]/, "\\$&");
      const pattern = new RegExp(`(^|[^\\w${m}])${m}([^${m}\\n]+?)${m}(?=$|[^\\w${m}])`);
      const found = pattern.exec(rest);
      if (found && (!best || found.index < best.found.index)) best = { style, found };
    }
    if (!best) {
      out.push(document.createTextNode(emojify(rest)));
      break;
    }
    const { style, found } = best;
    const start = found.index + found[1].length;
    if (start) out.push(document.createTextNode(emojify(rest.slice(0, start))));
    out.push(el(style.tag, {}, styled(found[2])));
    rest = rest.slice(found.index + found[0].length);
  }
  return out;
}

function inline(text) {
  // `code` first: nothing inside it is formatted.
  const out = [];
  text.split(/(`[^`\n]+`)/).forEach((part, index) => {
    if (index % 2) out.push(el("code", { text: part.slice(1, -1) }));
    else if (part) out.push(...styled(part));
  });
  return out;
}

function mrkdwn(source) {
  const out = [];
  source.split(/(```[\s\S]*?```)/).forEach((chunk, index) => {
    if (index % 2) {
      out.push(el("pre", { text: decode(chunk.slice(3, -3)) }));
      return;
    }
    chunk.split(/(<[^<>\n]+>)/).forEach((piece, linkIndex) => {
      if (linkIndex % 2) {
        out.push(link(piece.slice(1, -1)));
        return;
      }
      decode(piece).split("\n").forEach((line, lineIndex) => {
        if (lineIndex) out.push(el("br"));
        out.push(...inline(line));
      });
    });
  });
  return out;
}

function textObject(object) {
  if (!object) return [];
  if (object.type === "mrkdwn") return mrkdwn(object.text || "");
  const text = object.text || "";
  return [document.createTextNode(object.emoji === false ? text : emojify(text))];
}

// ---- Block Kit --------------------------------------------------------------------------

function renderElement(element, blockId, context) {
  switch (element.type) {
    case "button": {
      const button = el("button", {
        type: "button",
        class: "sk-btn" + (element.style ? " " + element.style : ""),
        "data-action-id": element.action_id,
      }, textObject(element.text));
      button.addEventListener("click", () => {
        if (element.confirm && !window.confirm(element.confirm.text ? element.confirm.text.text : "Are you sure?")) return;
        click(context, blockId, element, null, button);
      });
      return button;
    }
    case "static_select": {
      const select = el("select", { class: "sk-select", "data-action-id": element.action_id, "aria-label": element.placeholder ? element.placeholder.text : element.action_id });
      const initial = element.initial_option ? element.initial_option.value : null;
      if (!initial) select.append(el("option", { value: "", disabled: true, selected: true, text: element.placeholder ? element.placeholder.text : "Choose…" }));
      for (const option of element.options || []) {
        select.append(el("option", { value: option.value, selected: option.value === initial, text: emojify(option.text.text) }));
      }
      select.addEventListener("change", () => click(context, blockId, element, { value: select.value }, select));
      return select;
    }
    case "timepicker": {
      const input = el("input", {
        type: "time", class: "sk-time", "data-action-id": element.action_id,
        value: element.initial_time || "", "aria-label": element.placeholder ? element.placeholder.text : "time",
      });
      let timer = null;
      input.addEventListener("change", () => {
        clearTimeout(timer);
        // Slack sends a time once it is picked; typing one changes it digit by digit.
        timer = setTimeout(() => { if (input.value) click(context, blockId, element, { time: input.value }, input); }, 600);
      });
      return el("label", { class: "sk-time-label" }, input);
    }
    case "checkboxes": {
      const initial = new Set((element.initial_options || []).map((o) => o.value));
      const box = el("div", { class: "sk-checks", "data-action-id": element.action_id });
      let timer = null;
      const changed = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          const values = [...box.querySelectorAll("input:checked")].map((i) => i.value);
          click(context, blockId, element, { values });
        }, 600);
      };
      for (const option of element.options || []) {
        const input = el("input", { type: "checkbox", value: option.value, checked: initial.has(option.value), onchange: changed });
        box.append(el("label", {}, input, textObject(option.text)));
      }
      return box;
    }
    default:
      return el("span", { class: "b-unknown", text: `[${element.type}]` });
  }
}

function renderBlock(block, context) {
  const blockId = block.block_id;
  switch (block.type) {
    case "header":
      return el("div", { class: "b-header" }, textObject(block.text));
    case "section": {
      const section = el("div", { class: "b-section" });
      const text = el("div", { class: "b-text" }, textObject(block.text));
      if (block.fields) text.append(el("div", { class: "b-fields" }, block.fields.map((f) => el("div", {}, textObject(f)))));
      section.append(text);
      if (block.accessory) section.append(renderElement(block.accessory, blockId, context));
      return section;
    }
    case "context":
      return el("div", { class: "b-context" }, (block.elements || []).map((e) =>
        e.type === "image" ? el("span", { text: "🖼" }) : el("span", {}, textObject(e))));
    case "divider":
      return el("hr", { class: "b-divider" });
    case "actions":
      return el("div", { class: "b-actions" }, (block.elements || []).map((e) => renderElement(e, blockId, context)));
    case "image":
      return el("div", { class: "b-image", text: "🖼 " + (block.alt_text || "image") });
    default:
      return el("div", { class: "b-unknown", text: `[${block.type} block]` });
  }
}

function renderBlocks(blocks, context) {
  return el("div", { class: "blocks" }, blocks.map((b) => renderBlock(b, context)));
}

// ---- Messages ---------------------------------------------------------------------------

function renderMessage(message) {
  if (message.kind === "command") {
    // Slack shows nobody the command itself; the sandbox shows its author what they sent.
    return el("div", { class: "typed", "data-message-id": message.id },
      "You sent ", el("code", { text: message.text }));
  }
  const author = message.author;
  const avatar = el("div", { class: "avatar" + (author.app ? " app" : ""), style: `background:${author.colour}` },
    author.app ? "🧘" : author.name.slice(0, 1));
  const meta = el("div", { class: "meta" },
    el("b", { text: author.name }),
    author.app ? el("span", { class: "badge", text: "APP" }) : null,
    el("time", { text: message.time }),
    message.only_you ? el("span", { class: "only", text: "Only visible to you" }) : null);
  const body = el("div", { class: "msg-body" }, meta);
  const context = { surface: "message", messageId: message.id };
  if (message.blocks && message.blocks.length) body.append(renderBlocks(message.blocks, context));
  else if (message.text) body.append(el("div", { class: "b-text" }, mrkdwn(message.text)));
  if (message.file) {
    body.append(el("div", { class: "file" }, "📎 ", el("b", { text: message.file.name || "file" }),
      el("span", { class: "muted small", text: message.file.title || "" })));
  }
  if (message.edited) body.append(el("div", { class: "edited", text: "(edited)" }));
  return el("div", { class: "msg", "data-message-id": message.id }, avatar, body);
}

function renderConversation(key, container, messages, emptyText) {
  const shown = page.shown[key];
  const ids = new Set(messages.map((m) => m.id));
  for (const [id, entry] of shown) {
    if (!ids.has(id)) { entry.node.remove(); shown.delete(id); }
  }
  let firstNew = null;
  let updated = null;
  let previous = null;
  for (const message of messages) {
    const signature = JSON.stringify(message);
    const entry = shown.get(message.id);
    if (entry && entry.signature === signature) { previous = entry.node; continue; }
    const node = renderMessage(message);
    if (entry) {
      entry.node.replaceWith(node);
      updated = updated || node;
    } else {
      if (previous) previous.after(node); else container.prepend(node);
      firstNew = firstNew || node;
    }
    if (page.version >= 0) node.classList.add("fresh");
    shown.set(message.id, { node, signature });
    previous = node;
  }
  const empty = container.querySelector(".empty");
  if (!messages.length && !empty) container.append(el("div", { class: "empty", text: emptyText }));
  if (messages.length && empty) empty.remove();
  // New messages come into view from their top, as Slack scrolls to what just arrived;
  // a message updated in place stays where it is, brought into view if it was not.
  const target = firstNew || updated;
  if (!target) return;
  const top = target.offsetTop - 4;
  const bottom = target.offsetTop + target.offsetHeight;
  if (firstNew || top < container.scrollTop) container.scrollTop = top;
  else if (bottom > container.scrollTop + container.clientHeight) container.scrollTop = Math.min(top, bottom - container.clientHeight);
}

function renderHome(view) {
  const home = $("home-view");
  const key = view ? JSON.stringify(view) : "";
  if (key === page.homeKey) return;
  page.homeKey = key;
  home.replaceChildren(view ? renderBlocks(view.blocks || [], { surface: "home" })
    : el("div", { class: "empty", text: "Opening the Home tab…" }));
}

function renderModal(view) {
  const key = view ? JSON.stringify(view) : "";
  if (key === page.modalKey) return;
  page.modalKey = key;
  $("modal").hidden = !view;
  if (!view) return;
  $("modal-title").textContent = view.title ? view.title.text : "";
  $("modal-body").replaceChildren(renderBlocks(view.blocks || [], { surface: "modal" }));
}

function renderPeople(state) {
  page.people = state.people;
  const select = $("who");
  const labels = state.people.map((p) => `${p.name}, ${p.city} (${p.local_time})`);
  if (select.options.length !== labels.length) {
    select.replaceChildren(...state.people.map((p) => el("option", { value: p.id })));
  }
  state.people.forEach((p, i) => {
    select.options[i].textContent = labels[i];
    select.options[i].selected = p.id === page.user;
  });
}

function renderActivity(activity) {
  $("activity").replaceChildren(...activity.map((a) => el("li", { class: a.ok ? "" : "failed" },
    el("span", { class: "muted", text: a.time }), el("span", { class: "method", text: a.method }),
    el("span", { text: a.detail }))));
}

function render(state) {
  // A poll that left before the last change may answer after it: keep the newer state.
  if (!state || state.me.id !== page.user || state.version < page.version) return;
  renderPeople(state);
  $("clock-local").textContent = state.clock.local;
  $("clock-zone").textContent = `in ${state.me.city}`;
  $("next-nudge").textContent = state.clock.next_nudge;
  renderConversation("channel", $("channel-messages"), state.channel.messages,
    "Nothing here yet. Type /psoas half-kneel below, or pick one of the suggestions.");
  renderConversation("dm", $("dm-messages"), state.dm.messages,
    "Your DM with psoas-bot. Type /psoas on, then move the clock to a slot: the nudge lands here.");
  renderHome(state.home);
  renderModal(state.modal);
  renderActivity(state.activity);
  const dmCount = state.dm.messages.filter((m) => m.kind === "message").length;
  if (page.tab === "messages") page.dmSeen = dmCount;
  const unread = dmCount - page.dmSeen;
  $("dm-unread").hidden = unread <= 0;
  $("dm-unread").textContent = String(unread);
  page.version = state.version;
}

// ---- Wiring -----------------------------------------------------------------------------

function showTab(tab) {
  page.tab = tab;
  for (const button of document.querySelectorAll(".tabs button")) {
    button.setAttribute("aria-selected", String(button.dataset.tab === tab));
  }
  $("dm-messages").hidden = tab !== "messages";
  $("dm-form").hidden = tab !== "messages";
  $("home-view").hidden = tab !== "home";
  if (tab === "home") return call("home", {});
  return refresh();
}

function switchPerson(userId) {
  page.user = userId;
  localStorage.setItem("psoas-sandbox-user", userId);
  page.version = -1;
  page.homeKey = page.modalKey = "";
  page.dmSeen = 0;
  for (const key of ["channel", "dm"]) page.shown[key].clear();
  $("channel-messages").replaceChildren();
  $("dm-messages").replaceChildren();
  $("note").hidden = true;
  return page.tab === "home" ? call("home", {}) : refresh();
}

function wireComposer(formId, inputId, conversation) {
  $(formId).addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $(inputId);
    const text = input.value;
    input.value = "";
    await send(conversation(), text);
  });
}

function start() {
  wireComposer("channel-form", "channel-input", () => "C0GENERAL");
  wireComposer("dm-form", "dm-input", () => "D" + page.user.slice(1));
  $("chips").append(...CHIPS.map((text) => el("button", { type: "button", text, onclick: () => send("C0GENERAL", text) })));
  $("who").addEventListener("change", (event) => switchPerson(event.target.value));
  for (const button of document.querySelectorAll("[data-step]")) {
    button.addEventListener("click", async () => {
      button.disabled = true;
      await call("clock", { step: button.dataset.step });
      button.disabled = false;
    });
  }
  for (const button of document.querySelectorAll(".tabs button")) {
    button.addEventListener("click", () => showTab(button.dataset.tab));
  }
  $("modal-close").addEventListener("click", () => call("modal/close", {}));
  refresh();
  setInterval(refresh, 1500);
}

start();
