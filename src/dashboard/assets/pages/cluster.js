// Cluster: per broker name, every node with its role and load; ?node=ADDR shows one node's
// config and runtime info.
"use strict";

LMQ.page = {
  async render(main, params, { refresh }) {
    const { h } = LMQ;
    const addr = params.get("node");
    if (addr) {
      const d = await LMQ.api("/api/cluster/node?addr=" + encodeURIComponent(addr));
      main.replaceChildren(
        h("p", {}, LMQ.link("‹ All nodes", {})),
        h("h1", {}, `${d.brokerName} · BID ${d.brokerId} · ${d.addr}`),
        h("div", { class: "two" },
          LMQ.section("Runtime info", LMQ.kvTable(d.runtime, { id: "runtime" })),
          LMQ.section("Config", LMQ.kvTable(d.config, { id: "config" }))),
      );
      return;
    }
    const box = h("div", { id: "clusters" });
    // A node that does not answer has no load to show: blank, not zero.
    const up = (r) => r.role !== "DOWN" ? true : "";
    main.replaceChildren(box);
    async function load() {
      const c = await LMQ.api("/api/cluster");
      if (!c.clusters.length) {
        box.replaceChildren(h("p", { class: "muted" }, "No broker is registered with the name server."));
        return;
      }
      box.replaceChildren(...c.clusters.flatMap((cl) => cl.brokers.map((b) => LMQ.section(
        `${cl.cluster} / ${b.brokerName}`,
        LMQ.table([
          { key: "brokerId", label: "BID", num: true, render: (r) => r.brokerId === null ? "" : String(r.brokerId) },
          { key: "role", label: "Role", render: (r) => LMQ.badge(r.role) },
          { key: "raftNode", label: "Raft node" },
          { key: "raftState", label: "Raft state" },
          { key: "addr", label: "Address", render: (r) => r.role === "DOWN" && r.brokerId === null ? r.addr : LMQ.link(r.addr, { node: r.addr }) },
          { key: "version", label: "Version" },
          { key: "putTps", label: "Put TPS", num: true, render: (r) => up(r) && LMQ.num(r.putTps, 2) },
          { key: "getTps", label: "Get TPS", num: true, render: (r) => up(r) && LMQ.num(r.getTps, 2) },
          { key: "putToday", label: "Put today", num: true, render: (r) => up(r) && LMQ.num(r.putToday) },
          { key: "getToday", label: "Got today", num: true, render: (r) => up(r) && LMQ.num(r.getToday) },
          { key: "diskRatio", label: "Disk used", num: true, render: (r) => up(r) && LMQ.pct(r.diskRatio) },
          { key: "scheduled", label: "Scheduled", num: true, render: (r) => up(r) && LMQ.num(r.scheduled) },
          { key: "error", label: "Error", wrap: true },
        ], b.nodes, { sort: "brokerId", state: LMQ.keep(cl.cluster + "/" + b.brokerName), rowClass: (r) => r.role === "DOWN" ? "down" : (r.diskRatio >= 0.75 ? "warn" : null) }),
      ))));
    }
    await load();
    refresh(5000, load);
  },
};
