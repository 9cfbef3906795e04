// Raft: each group's members (state, term, indexes, replication lag), time since the last
// election and the leader-change events. Polls every second, so a failover shows without a
// reload.
"use strict";

LMQ.page = {
  async render(main, params, { refresh }) {
    const { h } = LMQ;
    const box = h("div", { id: "raft-groups" });
    const stamp = h("p", { class: "muted", id: "raft-polled" });
    main.replaceChildren(stamp, box);

    async function load() {
      const r = await LMQ.api("/api/raft");
      if (r.error) LMQ.say(r.error);
      stamp.textContent = "Polled " + LMQ.time(r.nowMs) + " · every member's status is read once a second over its Raft peer port";
      if (!r.groups.length) {
        box.replaceChildren(h("p", { class: "muted" }, "No Raft group found yet (groups are discovered through the name server)."));
        return;
      }
      box.replaceChildren(...r.groups.map((g) => {
        const leader = g.nodes.find((n) => n.id === g.leader);
        const head = h("div", { class: "group-head" },
          h("span", {}, "Leader: ", leader ? h("strong", { class: "leader-name", "data-leader": leader.name }, leader.name) : h("strong", { class: "no-leader" }, "none")),
          h("span", {}, "Term: ", h("strong", {}, String(g.term ?? "?"))),
          h("span", {}, "Since last election: ", h("strong", {}, g.millisSinceElection === null ? "?" : LMQ.ago(g.millisSinceElection))),
          h("span", {}, "Broker: ", LMQ.link(g.brokerName, {}, "/cluster")));
        const nodes = LMQ.table([
          { key: "name", label: "Node" },
          { key: "state", label: "State", render: (n) => LMQ.badge(n.state) },
          { key: "addr", label: "Peer address" },
          { key: "term", label: "Term", num: true },
          { key: "lastIndex", label: "Last index", num: true },
          { key: "committed", label: "Committed", num: true },
          { key: "applied", label: "Applied", num: true },
          { key: "matched", label: "Matched", title: "The leader's matched index for this member", num: true },
          { key: "lagEntries", label: "Replication lag", num: true, render: (n) => n.lagEntries === null ? "" : LMQ.num(n.lagEntries) + (n.lagEntries === 1 ? " entry" : " entries") },
          { key: "millisSinceLeaderChange", label: "Leader change", title: "How long ago this member saw the leader change", num: true, render: (n) => n.millisSinceLeaderChange === null ? "" : LMQ.ago(n.millisSinceLeaderChange) + " ago" },
          { key: "error", label: "Error", wrap: true },
        ], g.nodes, { sort: "name", id: "raft-nodes-" + g.group, state: LMQ.keep("nodes-" + g.group), rowClass: (n) => n.state === "down" ? "down" : (n.lagging ? "warn" : null) });
        const events = LMQ.table([
          { key: "atMs", label: "When", render: (e) => LMQ.time(e.atMs) },
          { key: "kind", label: "Event", render: (e) => LMQ.badge(e.kind) },
          { key: "term", label: "Term", num: true },
          { key: "text", label: "What happened", wrap: true },
        ], g.events, { pageSize: 10, id: "raft-events-" + g.group, state: LMQ.keep("events-" + g.group), empty: "No leader change seen since the dashboard started" });
        return h("section", { class: "card raft-group-card", "data-group": g.group },
          h("h2", {}, "Raft group " + g.group + " (" + g.cluster + ")"), head, nodes,
          h("h3", {}, "Events (leader changes, nodes down and back)"), events);
      }));
    }
    await load();
    refresh(1000, load);
  },
};
