// Consumers: groups with clients, lag and TPS; ?group=G for subscriptions, connected clients,
// per-queue offsets and lag, and resetting the group's offsets to a time.
"use strict";

LMQ.page = {
  async render(main, params, { refresh }) {
    const { h } = LMQ;
    const group = params.get("group");
    if (!group) {
      const box = h("div", { id: "group-list" });
      main.replaceChildren(LMQ.section("Consumer groups", box));
      const state = LMQ.keep("groups");
      async function load() {
        const r = await LMQ.api("/api/consumers");
        box.replaceChildren(LMQ.table([
          { key: "group", label: "Group", render: (g) => LMQ.link(g.group, { group: g.group }) },
          { key: "clients", label: "Clients", num: true },
          { key: "consumeType", label: "Type" },
          { key: "messageModel", label: "Model" },
          { key: "consumeTps", label: "Consume TPS", num: true, render: (g) => g.consumeTps === null ? "" : LMQ.num(g.consumeTps, 1) },
          { key: "totalLag", label: "Total lag", num: true, render: (g) => g.totalLag === null ? "no offsets" : LMQ.num(g.totalLag) },
          { key: "topics", label: "Topics", wrap: true, render: (g) => g.topics.join(", ") },
        ], r.groups, { sort: "group", pageSize: 50, state, rowClass: (g) => g.clients === 0 ? "muted-row" : null, empty: "No consumer group yet (groups appear with their %RETRY% topic)" }));
      }
      await load();
      refresh(5000, load);
      return;
    }

    const d = await LMQ.api("/api/consumers/" + encodeURIComponent(group));
    const topics = [...new Set([...d.subscriptions.map((s) => s.topic), ...d.queues.map((q) => q.topic)])].filter((t) => !t.startsWith("%RETRY%"));
    const form = h("form", { id: "reset-form", class: "inline-form" },
      h("label", {}, "Topic ", h("select", { name: "topic" }, topics.map((t) => h("option", { value: t }, t)))),
      h("label", {}, "To the first message stored at or after ", h("input", { name: "when", type: "datetime-local", required: true, value: LMQ.msToLocal(Date.now() - 3600e3) })),
      h("button", { type: "submit", class: "danger" }, "Reset offsets"));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const f = LMQ.formData(form);
      if (!confirm(`Move group ${group}'s offsets on ${f.topic} to ${f.when}?`)) return;
      try {
        const r = await LMQ.post("/api/consumers/" + encodeURIComponent(group) + "/reset", { topic: f.topic, timestamp: LMQ.localToMs(f.when) });
        LMQ.say(`Reset ${r.queues.length} queue(s) of ${r.topic}. ${r.note}`, "ok", true);
        LMQ.render();
      } catch (err) { LMQ.say(err.message, "error", true); }
    });
    main.replaceChildren(
      h("p", {}, LMQ.link("‹ All groups", {})),
      h("h1", {}, "Group " + d.group, " ", LMQ.badge(d.online ? "online" : "offline")),
      h("p", {}, `Total lag ${LMQ.num(d.totalLag)} · consume TPS ${LMQ.num(d.consumeTps, 1)}` + (d.consumeType ? ` · ${d.consumeType} ${d.messageModel || ""} from ${d.consumeFromWhere || "?"}` : "")),
      h("div", { class: "two" },
        LMQ.section("Subscriptions", LMQ.table([
          { key: "topic", label: "Topic", render: (s) => LMQ.link(s.topic, { topic: s.topic }, "/topics") },
          { key: "expression", label: "Expression" },
          { key: "expressionType", label: "Type" },
        ], d.subscriptions, { empty: d.offline || "No client online" })),
        LMQ.section("Connected clients", LMQ.table([
          { key: "clientId", label: "Client id", wrap: true },
          { key: "clientAddr", label: "Address" },
          { key: "language", label: "Language" },
          { key: "version", label: "Version", num: true },
        ], d.clients, { empty: "No client online" }))),
      LMQ.section("Progress per queue", LMQ.table([
        { key: "topic", label: "Topic" },
        { key: "brokerName", label: "Broker" },
        { key: "queueId", label: "Queue", num: true },
        { key: "brokerOffset", label: "Broker offset", num: true },
        { key: "consumerOffset", label: "Consumer offset", num: true },
        { key: "lag", label: "Lag", num: true },
        { key: "lastTimestamp", label: "Last consumed", render: (q) => LMQ.time(q.lastTimestamp) },
      ], d.queues, { sort: "topic", id: "group-queues", empty: d.statsError || "No offsets" })),
      topics.length ? LMQ.section("Reset offsets to a time", form,
        h("p", { class: "muted" }, "Clients that are online keep the offsets they hold and commit them again; stop them first, or restart them after the reset.")) : null,
    );
  },
};
