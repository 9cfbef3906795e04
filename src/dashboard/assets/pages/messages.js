// Messages: search by topic + time range (?topic&begin&end), by key (?topic&key) or by msgId
// (?id[&topic]); a message's detail; and a form that sends a test message.
"use strict";

LMQ.page = {
  async render(main, params) {
    const { h } = LMQ;
    const p = Object.fromEntries(params.entries());

    // A scheduled message's state: waiting (level or delivery time), delivered, or a retry.
    const delayText = (d) => d ? `${d.state}: ${d.detail}${d.dueMs ? ", due " + LMQ.time(d.dueMs) : ""}` : "";
    const rowsTable = (msgs) => LMQ.table([
      { key: "msgId", label: "Message id", render: (m) => LMQ.link(m.msgId || m.offsetMsgId, { id: m.offsetMsgId, topic: m.topic }) },
      { key: "tags", label: "Tags" },
      { key: "keys", label: "Keys", wrap: true },
      { key: "queueId", label: "Queue", num: true },
      { key: "queueOffset", label: "Offset", num: true },
      { key: "bodySize", label: "Body bytes", num: true },
      { key: "storeTimestamp", label: "Stored", render: (m) => LMQ.time(m.storeTimestamp) },
      { key: "delay", label: "Delay", render: (m) => delayText(m.delay) },
      { key: "transaction", label: "Transaction", wrap: true, render: (m) => m.transaction || "" },
    ], msgs, { sort: "storeTimestamp", desc: true, id: "message-results", empty: "No message found" });

    if (p.id) {
      const m = await LMQ.api("/api/messages/by-id?" + new URLSearchParams({ id: p.id, topic: p.topic || "" }));
      const body = h("pre", { id: "message-body", class: "body" }, m.bodyText ?? m.bodyHex);
      let hex = m.bodyText === null;
      const toggle = h("button", { type: "button", onclick: () => { hex = !hex; body.textContent = hex ? m.bodyHex : (m.bodyText ?? "(not UTF-8 text)"); toggle.textContent = hex ? "Show as text" : "Show as hex"; } }, hex ? "Show as text" : "Show as hex");
      main.replaceChildren(
        h("p", {}, LMQ.link("‹ Search", { topic: m.topic })),
        h("h1", {}, "Message ", h("code", {}, m.msgId || m.offsetMsgId)),
        h("div", { class: "two" },
          LMQ.section(`Body (${LMQ.num(m.bodySize)} bytes${m.bodyTruncated ? ", hex shows the first 64 KiB" : ""})`, toggle, body),
          LMQ.section("Consumed by", LMQ.table([
            { key: "group", label: "Group", render: (t) => LMQ.link(t.group, { group: t.group }, "/consumers") },
            { key: "trackType", label: "State", render: (t) => LMQ.badge(t.trackType) },
          ], m.tracks, { id: "message-tracks", empty: "No consumer group consumes this topic" }))),
        h("div", { class: "two" },
          LMQ.section("Where and when", LMQ.kvTable({
            "Topic": m.topic, "Tags": m.tags || "", "Keys": m.keys || "",
            "Broker": m.brokerName, "Queue": m.queueId, "Queue offset": m.queueOffset,
            "CommitLog offset": m.commitLogOffset, "Store host": m.storeHost, "Born host": m.bornHost,
            "Born": LMQ.time(m.bornTimestamp), "Stored": LMQ.time(m.storeTimestamp),
            "msgId (UNIQ_KEY)": m.msgId, "offsetMsgId": m.offsetMsgId,
            "Reconsume times": m.reconsumeTimes, "System flag": m.sysFlag,
            "Delay": delayText(m.delay),
            ...(m.transaction ? { "Transaction": m.transaction } : {}),
          }, { id: "message-info", sort: null })),
          LMQ.section("Properties", LMQ.kvTable(m.properties, { id: "message-properties" }))),
      );
      return;
    }

    const results = h("div", { id: "search-results" });
    const field = (label, attrs) => h("label", {}, label + " ", h("input", attrs));
    const byTime = h("form", { id: "by-time", class: "inline-form" },
      field("Topic", { name: "topic", required: true, value: p.topic || "" }),
      field("From", { name: "begin", type: "datetime-local", value: LMQ.msToLocal(p.begin || Date.now() - 3600e3) }),
      field("To", { name: "end", type: "datetime-local", value: p.end ? LMQ.msToLocal(p.end) : "" }),
      h("button", { type: "submit" }, "Search by time"));
    const byKey = h("form", { id: "by-key", class: "inline-form" },
      field("Topic", { name: "topic", required: true, value: p.topic || "" }),
      field("Key", { name: "key", required: true, value: p.key || "" }),
      h("button", { type: "submit", id: "by-key-submit" }, "Search by key"));
    const byId = h("form", { id: "by-id", class: "inline-form" },
      field("Message id", { name: "id", required: true, size: 36 }),
      field("Topic (for a client msgId)", { name: "topic", value: p.topic || "" }),
      h("button", { type: "submit" }, "Find"));
    for (const f of [byTime, byKey, byId]) f.noValidate = true;
    byTime.addEventListener("submit", (e) => {
      e.preventDefault();
      const f = LMQ.formData(byTime);
      LMQ.go({ topic: f.topic, begin: LMQ.localToMs(f.begin), ...(f.end ? { end: LMQ.localToMs(f.end) } : {}) });
    });
    byKey.addEventListener("submit", (e) => { e.preventDefault(); const f = LMQ.formData(byKey); LMQ.go({ topic: f.topic, key: f.key }); });
    byId.addEventListener("submit", (e) => { e.preventDefault(); const f = LMQ.formData(byId); LMQ.go({ id: f.id, topic: f.topic }); });

    const send = h("form", { id: "send-form", class: "stack-form" },
      field("Topic", { name: "topic", required: true, value: p.topic || "" }),
      field("Tags", { name: "tags", placeholder: "TagA" }),
      field("Keys (space separated)", { name: "keys", placeholder: "order-1001" }),
      h("label", {}, "Body ", h("textarea", { name: "body", rows: 3, required: true }, "Hello from the LedgerMQ dashboard")),
      h("button", { type: "submit", id: "send-submit" }, "Send test message"));
    send.noValidate = true;
    const sent = h("div", { id: "send-result" });
    send.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const r = await LMQ.post("/api/messages", LMQ.formData(send));
        LMQ.say(`${r.status}: msgId ${r.msgId} stored in ${r.brokerName} queue ${r.queueId} at offset ${r.queueOffset}.`, "ok", true);
        sent.replaceChildren(h("p", {}, "Sent ", LMQ.link(r.msgId, { id: r.offsetMsgId, topic: LMQ.formData(send).topic }), "."));
      } catch (err) { LMQ.say(err.message, "error", true); }
    });

    main.replaceChildren(
      h("div", { class: "two" },
        LMQ.section("Find messages", h("h3", {}, "By topic and time"), byTime, h("h3", {}, "By key"), byKey, h("h3", {}, "By message id"), byId),
        LMQ.section("Send a test message", send, sent)),
      LMQ.section("Results", results));

    if (p.topic && p.key) {
      const r = await LMQ.api("/api/messages/by-key?" + new URLSearchParams({ topic: p.topic, key: p.key }));
      results.replaceChildren(h("p", { class: "muted" }, `${r.messages.length} message(s) with key ${p.key} in ${p.topic}`), rowsTable(r.messages));
    } else if (p.topic && p.begin) {
      const q = { topic: p.topic, begin: p.begin };
      if (p.end) q.end = p.end;
      const r = await LMQ.api("/api/messages?" + new URLSearchParams(q));
      results.replaceChildren(h("p", { class: "muted" }, `${r.messages.length} message(s) in ${p.topic} from ${LMQ.time(Number(p.begin))}` + (r.messages.length >= r.limit ? ` (the first ${r.limit})` : "")), rowsTable(r.messages));
    } else {
      results.replaceChildren(h("p", { class: "muted" }, "Search by time, key or id above."));
    }
  },
};
