// Cockpit: counts, cluster-wide send/consume TPS (live chart), top topics, and every problem
// in red. Refreshes every 5 s.
"use strict";

LMQ.page = {
  async render(main, params, { refresh }) {
    const { h } = LMQ;
    const counts = h("div", { class: "counts", id: "counts" });
    const problems = h("div", { id: "problems" });
    const chartBox = h("div", { class: "chart", id: "tps-chart" });
    const top = h("div", { id: "top-topics" });
    const raft = h("div", { class: "raft-mini", id: "raft-summary" });
    main.replaceChildren(
      counts,
      LMQ.section("Health", problems),
      LMQ.section("Messages per second, whole cluster (last 10 minutes)", chartBox),
      h("div", { class: "two" },
        LMQ.section("Top topics by TPS", top),
        LMQ.section("Raft groups", raft)),
    );

    const WINDOW_S = 600;
    const pad = (n) => String(n).padStart(2, "0");
    /** Epoch seconds as HH:MM, or HH:MM:SS off the minute. */
    const clock = (t) => {
      const d = new Date(t * 1000);
      const hm = pad(d.getHours()) + ":" + pad(d.getMinutes());
      return d.getSeconds() ? hm + ":" + pad(d.getSeconds()) : hm;
    };
    let chart = null;
    function drawChart(points) {
      const xs = points.map((p) => p.atMs / 1000);
      const data = [xs, points.map((p) => p.putTps), points.map((p) => p.getTps)];
      const width = Math.max(320, chartBox.clientWidth - 8);
      if (!chart) {
        chart = new uPlot({
          width, height: 240,
          // Always the last 10 minutes, also while only a few samples exist (uPlot would
          // otherwise stretch one point over years).
          scales: { x: { time: true, range: (u, min, max) => { const end = max ?? Date.now() / 1000; return [end - WINDOW_S, end]; } }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.15)] } },
          // Clock times only: uPlot's default adds a date under the first tick, which
          // overlaps its neighbour.
          axes: [{ space: 70, values: (u, splits) => splits.map(clock) }, { label: "msgs/s" }],
          series: [
            {},
            { label: "Send TPS", stroke: "#2f6fdf", width: 2, fill: "rgba(47,111,223,0.08)" },
            { label: "Consume TPS", stroke: "#1a9a55", width: 2 },
          ],
        }, data, chartBox);
      } else {
        chart.setData(data);
      }
    }

    async function load() {
      const c = await LMQ.api("/api/cockpit");
      const card = (label, value, href) => h("a", { class: "count", href }, h("span", { class: "value" }, String(value)), h("span", { class: "label" }, label));
      counts.replaceChildren(
        card("Broker groups", c.counts.brokerGroups, "/cluster"),
        card("Nodes", c.counts.nodes, "/cluster"),
        card("Topics", c.counts.topics, "/topics?kind=normal"),
        card("Consumer groups", c.counts.groups, "/consumers"),
      );
      problems.replaceChildren(c.problems.length
        ? h("ul", { class: "problems" }, c.problems.map((p) => h("li", { class: p.severity }, p.text)))
        : h("p", { class: "healthy" }, "All nodes answer and every Raft group has a leader."));
      drawChart(c.traffic.points);
      top.replaceChildren(LMQ.table([
        { key: "topic", label: "Topic", render: (r) => LMQ.link(r.topic, { topic: r.topic }, "/topics") },
        { key: "tps", label: "TPS", num: true, render: (r) => LMQ.num(r.tps, 1) },
        { key: "messages", label: "Messages", num: true, render: (r) => LMQ.num(r.messages) },
      ], c.traffic.topTopics, { sort: "tps", desc: true, pageSize: 10, state: LMQ.keep("top"), empty: "No topic yet (sampled every 10 s)" }));
      raft.replaceChildren(...(c.raft.length ? c.raft.map((g) => h("a", { class: "raft-group", href: "/raft" },
        h("strong", {}, g.group),
        " term ", String(g.term ?? "?"), " ",
        ...g.nodes.map((n) => h("span", { class: "badge " + n.state + (n.lagging ? " lagging" : "") }, n.name + " " + n.state)))) : [h("p", { class: "muted" }, "No Raft group found yet.")]));
    }
    await load();
    refresh(5000, load);
  },
};
