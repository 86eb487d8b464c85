// People: this install's personal code, contacts with who is online, recent calls, and
// rings made and answered. The Rust side (src-tauri/src/people/) keeps all of it and tells
// this page through one event, "people", whose payload is tagged by `kind`
// (PeopleEvent: changed, incoming, ring_ended).
//
// `calls` is what app.js lends: { joinRoom(room), leave(reason), showError(e), notice(text),
// copy(text, what) }.

import { EVENTS, invoke, on } from "./api.js";

const $ = (id) => document.getElementById(id);

// What a ring's end says to the caller.
const RING_ENDS = {
  declined: (name) => `${name} declined the call.`,
  busy: (name) => `${name} is busy in another call.`,
  no_answer: (name) => `No answer from ${name}.`,
  gone: (name) => `${name} went offline.`,
  cancelled: () => "The call was cancelled.",
};

const KIND_WORDS = { outgoing: "Called", incoming: "Answered", missed: "Missed", declined: "Declined" };

export function startPeople(state, calls) {
  state.people = null; // the last PeopleView
  state.incoming = null; // the ring shown, if any
  state.outgoing = null; // { ring, name } while ringing someone

  const button = (text, label, onClick, cls = "ghost small") => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = cls;
    b.textContent = text;
    b.setAttribute("aria-label", label);
    b.addEventListener("click", onClick);
    return b;
  };

  function render(view) {
    state.people = view;
    $("my-code").textContent = view.code || "no code";
    $("reach-status").textContent = view.problem
      ? view.problem
      : view.reachable
        ? view.do_not_disturb
          ? "Do not disturb: rings are answered \"busy\" for you."
          : "People who have your code can ring you."
        : "Connecting…";
    $("reach-status").dataset.reachable = String(view.reachable);
    $("do-not-disturb").checked = view.do_not_disturb;
    const list = $("contacts");
    list.replaceChildren();
    for (const c of view.contacts) {
      const li = document.createElement("li");
      li.dataset.code = c.code;
      const dot = document.createElement("span");
      dot.className = `presence${c.online ? " online" : ""}`;
      dot.setAttribute("role", "img");
      dot.setAttribute("aria-label", c.online ? "online" : "offline");
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = c.name;
      const state_ = document.createElement("span");
      state_.className = "when";
      state_.textContent = c.online ? "online" : "offline";
      li.append(
        dot,
        who,
        state_,
        button("Call", `Call ${c.name}`, () => ringContact(c), "primary small"),
        button("Rename", `Rename ${c.name}`, () => rename(c, li)),
        button("Remove", `Remove ${c.name}`, () => remove(c, li)),
      );
      list.append(li);
    }
    $("no-contacts").hidden = view.contacts.length > 0;
    const known = new Set(view.contacts.map((c) => c.code));
    const calls_ = $("recent-calls");
    calls_.replaceChildren();
    for (const r of view.recent) {
      const li = document.createElement("li");
      li.className = r.kind;
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = `${KIND_WORDS[r.kind] || r.kind}: ${r.name}${r.outcome ? ` (${r.outcome})` : ""}`;
      const when = document.createElement("time");
      when.className = "when";
      when.dateTime = new Date(r.at_ms).toISOString();
      when.textContent = new Date(r.at_ms).toLocaleString([], { dateStyle: "short", timeStyle: "short" });
      li.append(who, when);
      if (!known.has(r.code)) {
        li.append(button("Add", `Add ${r.name} to contacts`, () => addContact(r.code, r.name)));
      }
      calls_.append(li);
    }
    $("calls-card").hidden = view.recent.length === 0;
  }

  async function addContact(text, name) {
    try {
      await invoke("add_contact", { text, name });
      return true;
    } catch (e) {
      calls.showError(e);
      return false;
    }
  }

  // Renaming happens in the row: the name becomes a field, saved with Enter or Save.
  function rename(c, li) {
    const field = document.createElement("input");
    field.value = c.name;
    field.maxLength = 64;
    field.className = "who";
    field.setAttribute("aria-label", `New name for ${c.name}`);
    const save = async () => {
      try {
        await invoke("rename_contact", { code: c.code, name: field.value });
      } catch (e) {
        calls.showError(e);
      }
    };
    field.addEventListener("keydown", (e) => {
      if (e.key === "Enter") save();
      if (e.key === "Escape") render(state.people);
    });
    li.replaceChildren(field, button("Save", `Save the name for ${c.name}`, save, "primary small"),
      button("Cancel", "Cancel renaming", () => render(state.people)));
    field.focus();
  }

  // Removing asks in the row first.
  function remove(c, li) {
    const gone = async () => {
      try {
        await invoke("remove_contact", { code: c.code });
      } catch (e) {
        calls.showError(e);
      }
    };
    const ask = document.createElement("span");
    ask.className = "who";
    ask.textContent = `Remove ${c.name}?`;
    li.replaceChildren(ask, button("Remove", `Yes, remove ${c.name}`, gone, "danger small"),
      button("Keep", `Keep ${c.name}`, () => render(state.people)));
  }

  // Calling a contact: start a new room, join it, and ring them into it. The call screen
  // says "Ringing…" until they answer; any other end leaves the room.
  async function ringContact(c) {
    const joined = await calls.joinRoom(null);
    if (!joined) return;
    try {
      const ring = await invoke("ring", { code: c.code, room: joined.room });
      state.outgoing = { ring, name: c.name };
      $("ringing-name").textContent = c.name;
      $("ringing").hidden = false;
      // A quick answer can end the ring before its id came back.
      const early = endedEarly.get(ring);
      endedEarly.clear();
      if (early) ringEnded(early);
    } catch (e) {
      await calls.leave("");
      calls.showError(e);
    }
  }

  async function answer(accept) {
    const ring = state.incoming;
    if (!ring) return;
    hideIncoming();
    try {
      const room = await invoke("answer_ring", { ring: ring.ring, accept });
      if (room) await calls.joinRoom(room);
    } catch (e) {
      calls.showError(e);
    }
  }

  // Ends of rings not (yet) known here: the last few, for ringContact to find its own.
  const endedEarly = new Map();

  function hideIncoming() {
    state.incoming = null;
    $("incoming").hidden = true;
  }

  function ringEnded({ ring, reason, name }) {
    if (state.incoming?.ring === ring) {
      hideIncoming();
      calls.notice(`Missed call from ${name}.`);
      return;
    }
    if (state.outgoing?.ring !== ring) {
      endedEarly.set(ring, { ring, reason, name });
      if (endedEarly.size > 8) endedEarly.delete(endedEarly.keys().next().value);
      return;
    }
    state.outgoing = null;
    $("ringing").hidden = true;
    if (reason !== "accepted") calls.leave((RING_ENDS[reason] || (() => `The ring ended (${reason}).`))(name));
  }

  on(EVENTS.people, (payload) => {
    if (payload.kind === "changed") render(payload);
    else if (payload.kind === "incoming") {
      state.incoming = payload;
      $("incoming-name").textContent = payload.name;
      $("incoming-detail").textContent = payload.contact ? "" : `Not in your contacts · ${payload.from}`;
      $("incoming").hidden = false;
      $("incoming-accept").focus();
    } else if (payload.kind === "ring_ended") ringEnded(payload);
  });
  // A tincan://person/ link opened while running: offer to add them.
  on(EVENTS.linkPerson, (payload) => offerPerson(payload));

  $("incoming-accept").addEventListener("click", () => answer(true));
  $("incoming-decline").addEventListener("click", () => answer(false));
  $("ringing-cancel").addEventListener("click", async () => {
    const out = state.outgoing;
    if (!out) return;
    await invoke("cancel_ring", { ring: out.ring }).catch(() => {});
    // The ring's end (cancelled) leaves the room.
  });
  $("do-not-disturb").addEventListener("change", (e) =>
    invoke("set_do_not_disturb", { on: e.currentTarget.checked }).catch((err) => calls.showError(err)),
  );
  $("copy-my-code").addEventListener("click", () => calls.copy(state.people?.code || "", "Your code"));
  $("copy-my-link").addEventListener("click", () => calls.copy(state.people?.link || "", "Your link"));
  $("add-contact-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (await addContact($("contact-code").value, $("contact-name").value)) {
      $("contact-code").value = "";
      $("contact-name").value = "";
    }
  });

  invoke("people_view").then(render, (e) => calls.showError(e));
}

// Fills the add-contact form from a person link, for the person to name and add.
export function offerPerson(person) {
  $("contact-code").value = person.code;
  $("contact-name").value = person.name || "";
  $("contact-name").focus();
}
