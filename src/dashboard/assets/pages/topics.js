// Topics: list with a kind filter (?kind=), create/update form, and ?topic=T for one topic's
// queues, per-queue offsets, route, consumer groups and delete.
"use strict";

LMQ.page = {
  async render(main, params) {
    const { h } = LMQ;
    const topic = params.get("topic");

    function topicForm(prefill) {
      const q = prefill || {};
      const form = h("form", { id: "topic-form", class: "inline-form" },
        h("label", {}, "Topic ", h("input", { name: "topic", required: true, value: q.topic || "", readonly: q.topic ? true : null, placeholder: "TopicTest" })),
        h("label", {}, "Read queues ", h("input", { name: "readQueueNums", type: "number", value: q.read || 8, min: 1, max: 1024 })),
        h("label", {}, "Write queues ", h("input", { name: "writeQueueNums", type: "number", value: q.write || 8, min: 1, max: 1024 })),
        h("label", {}, "Permission ", h("select", { name: "perm" },
          [["6", "6 read + write"], ["4", "4 read only"], ["2", "2 write only"]].map(([v, t]) =>
            h("option", { value: v, selected: String(q.perm || 6) === v ? true : null }, t)))),
        h("label", {}, "Cluster ", h("input", { name: "cluster", placeholder: "(the only one)", value: q.cluster || "" })),
        h("button", { type: "submit", id: "topic-submit" }, q.topic ? "Update topic" : "Create topic"));
      // The browser's own range checks are skipped so the server's message is the one shown.
      form.noValidate = true;
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        const data = LMQ.formData(form);
        try {
          const r = await LMQ.post("/api/topics", data);
          LMQ.go({ topic: r.topic });
          LMQ.say(`Topic ${r.topic} saved on ${r.brokers.join(", ")} (read ${r.readQueueNums}, write ${r.writeQueueNums}, perm ${r.perm}).`, "ok", true);
        } catch (err) { LMQ.say(err.message, "error", true); }
      });
      return form;
    }

    if (topic) {
      const d = await LMQ.api("/api/topics/" + encodeURIComponent(topic));
      const qd = d.queueDatas[0] || {};
      const del = h("button", { type: "button", class: "danger", id: "topic-delete", onclick: async () => {
        if (!confirm(`Delete topic ${d.topic} from every broker and name server? Its messages become unreachable.`)) return;
        try {
          await LMQ.post("/api/topics/" + encodeURIComponent(d.topic) + "/delete");
          LMQ.go({});
          LMQ.say(`Topic ${d.topic} deleted.`, "ok", true);
        } catch (err) { LMQ.say(err.message, "error", true); }
      } }, "Delete topic");
      main.replaceChildren(
        h("p", {}, LMQ.link("‹ All topics", {})),
        h("h1", { id: "topic-title" }, d.topic, " ", LMQ.badge(d.kind)),
        LMQ.section("Queues and permission",
          LMQ.table([
            { key: "brokerName", label: "Broker" },
            { key: "readQueueNums", label: "Read queues", num: true },
            { key: "writeQueueNums", label: "Write queues", num: true },
            { key: "perm", label: "Perm", num: true },
          ], d.queueDatas),
          d.kind === "normal" ? h("div", {}, h("h3", {}, "Update"), topicForm({ topic: d.topic, read: qd.readQueueNums, write: qd.writeQueueNums, perm: qd.perm })) : null),
        LMQ.section("Per-queue offsets",
          LMQ.table([
            { key: "brokerName", label: "Broker" },
            { key: "queueId", label: "Queue", num: true },
            { key: "minOffset", label: "Min offset", num: true },
            { key: "maxOffset", label: "Max offset", num: true },
            { key: "messages", label: "Messages", num: true },
            { key: "lastUpdated", label: "Last message", render: (r) => LMQ.time(r.lastUpdated) },
          ], d.queues, { sort: "queueId", id: "topic-queues" })),
        h("div", { class: "two" },
          LMQ.section("Route",
            LMQ.table([
              { key: "brokerName", label: "Broker" },
              { key: "addrs", label: "Nodes (BID → address)", wrap: true },
            ], d.route.brokerDatas.map((b) => ({ brokerName: b.brokerName, addrs: Object.entries(b.brokerAddrs).map(([id, a]) => id + " → " + a).join(", ") })))),
          LMQ.section("Consumer groups",
            d.groups.length ? h("ul", {}, d.groups.map((g) => h("li", {}, LMQ.link(g, { group: g }, "/consumers")))) : h("p", { class: "muted" }, "No group consumes it."))),
        LMQ.section("Messages",
          h("p", {}, LMQ.link("Messages of the last hour", { topic: d.topic, begin: String(Date.now() - 3600e3) }, "/messages"), " · ", d.kind !== "system" ? del : "")),
      );
      return;
    }

    const kind = params.get("kind") || "all";
    const filter = h("div", { class: "filters", id: "kind-filter" },
      ["all", "normal", "retry", "dlq", "system"].map((k) => h("a", {
        href: "?kind=" + k, class: k === kind ? "active" : null,
        onclick: (e) => { e.preventDefault(); LMQ.go(k === "all" ? {} : { kind: k }); },
      }, k === "dlq" ? "DLQ" : k[0].toUpperCase() + k.slice(1))));
    const search = h("input", { type: "search", placeholder: "Filter by name", id: "topic-search", value: params.get("q") || "" });
    const listBox = h("div", { id: "topic-list" });
    main.replaceChildren(
      LMQ.section("Create or update a topic", topicForm()),
      LMQ.section("Topics", h("div", { class: "toolbar" }, filter, search), listBox));
    const r = await LMQ.api("/api/topics" + (kind === "all" ? "" : "?kind=" + encodeURIComponent(kind)));
    const state = LMQ.keep("topics");
    function draw() {
      const needle = search.value.trim().toLowerCase();
      const rows = r.topics.filter((t) => !needle || t.topic.toLowerCase().includes(needle));
      listBox.replaceChildren(LMQ.table([
        { key: "topic", label: "Topic", render: (t) => LMQ.link(t.topic, { topic: t.topic }) },
        { key: "kind", label: "Kind", render: (t) => LMQ.badge(t.kind) },
      ], rows, { sort: "topic", pageSize: 50, state, empty: "No topic matches" }));
    }
    search.addEventListener("input", draw);
    draw();
  },
};
