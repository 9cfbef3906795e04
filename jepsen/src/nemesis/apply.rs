//! Starting and healing faults on a running cluster. Partitions are iptables `DROP` rules in
//! the INPUT chain of the nodes' own namespaces (healing flushes those chains); link faults use
//! `tc` on the node's veth; process faults are signals to the pids the cluster owns.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

use super::grudge::{self, Grudge};
use super::Fault;
use crate::cluster::Cluster;

/// What is active now, so the heal knows what to undo.
#[derive(Debug, Clone, PartialEq)]
pub enum Active {
    Grudge(Grudge),
    Killed(Vec<usize>),
    Paused(Vec<usize>),
    /// A degraded link on this node.
    Degraded(usize),
}

/// Runs a command inside a namespace without blocking the runtime's thread.
async fn exec_in(ns: &str, program: &str, args: &[&str]) -> Result<(), String> {
    let out = tokio::process::Command::new("ip")
        .args(["netns", "exec", ns, program])
        .args(args)
        .output()
        .await
        .map_err(|e| format!("ip netns exec {ns} {program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip netns exec {ns} {program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Whether this kernel has the netem qdisc (many minimal kernels lack `sch_netem`).
pub async fn netem_available(ns: &str, ifname: &str) -> bool {
    let ok = exec_in(
        ns,
        "tc",
        &[
            "qdisc", "add", "dev", ifname, "root", "netem", "delay", "1ms",
        ],
    )
    .await
    .is_ok();
    if ok {
        let _ = exec_in(ns, "tc", &["qdisc", "del", "dev", ifname, "root"]).await;
    }
    ok
}

/// The fault injector. Random choices (which node, which halves) come from the run's seed;
/// which node leads is whatever the cluster says at that moment.
pub struct Nemesis {
    rng: StdRng,
    netem: bool,
}

fn names(c: &Cluster) -> Vec<String> {
    c.nodes.iter().map(|n| n.name.clone()).collect()
}

impl Nemesis {
    pub fn new(rng: StdRng, netem: bool) -> Nemesis {
        Nemesis { rng, netem }
    }

    fn random_node(&mut self, c: &Cluster) -> usize {
        self.rng.gen_range(0..c.nodes.len())
    }

    fn shuffled(&mut self, c: &Cluster) -> Vec<usize> {
        let mut order: Vec<usize> = (0..c.nodes.len()).collect();
        order.shuffle(&mut self.rng);
        order
    }

    /// The leader of a random group (the only group, unless `--groups`), or a random node
    /// (said so in the description) when none answers as leader.
    async fn leader_or_random(&mut self, c: &Cluster) -> (usize, String) {
        let g = self.rng.gen_range(0..c.groups.max(1));
        match c.leader(g).await {
            Some(l) if c.groups > 1 => (
                l,
                format!(
                    "leader {} (of {})",
                    c.nodes[l].name,
                    crate::cluster::group_name(g)
                ),
            ),
            Some(l) => (l, format!("leader {}", c.nodes[l].name)),
            None => {
                let n = self.random_node(c);
                (
                    n,
                    format!("no leader found; random node {}", c.nodes[n].name),
                )
            }
        }
    }

    /// Starts `fault`; returns what to heal and a description for the history.
    pub async fn start(
        &mut self,
        fault: Fault,
        c: &mut Cluster,
    ) -> Result<(Active, String), String> {
        let n = c.nodes.len();
        let names = names(c);
        match fault {
            Fault::PartitionHalves => {
                let order = self.shuffled(c);
                let (a, b) = order.split_at(n / 2);
                let g = grudge::cut(a, b);
                self.partition(c, g, "halves").await
            }
            Fault::PartitionLeader => {
                let (l, who) = self.leader_or_random(c).await;
                self.partition(c, grudge::isolate(l, n), &format!("isolated {who}"))
                    .await
            }
            Fault::MajoritiesRing => {
                let order = self.shuffled(c);
                self.partition(c, grudge::majorities_ring(&order), "majorities ring")
                    .await
            }
            Fault::Bridge => {
                let order = self.shuffled(c);
                let what = format!("bridge through {}", names[order[0]]);
                self.partition(c, grudge::bridge(&order), &what).await
            }
            Fault::PartitionOneway => {
                let (l, who) = self.leader_or_random(c).await;
                let what = format!("{who} can send but not receive");
                self.partition(c, grudge::deafen(l, n), &what).await
            }
            Fault::Kill | Fault::KillLeader | Fault::KillMajority => {
                let (victims, who) = match fault {
                    Fault::Kill => {
                        let v = self.random_node(c);
                        (vec![v], format!("random node {}", names[v]))
                    }
                    Fault::KillLeader => {
                        let (l, who) = self.leader_or_random(c).await;
                        (vec![l], who)
                    }
                    _ => {
                        let mut order = self.shuffled(c);
                        order.truncate(n / 2 + 1);
                        order.sort();
                        let who: Vec<&str> = order.iter().map(|i| names[*i].as_str()).collect();
                        let who = format!("majority {}", who.join(" "));
                        (order, who)
                    }
                };
                for &v in &victims {
                    c.kill(v).await?;
                }
                Ok((Active::Killed(victims), format!("kill -9 {who}")))
            }
            Fault::Pause | Fault::PauseLeader => {
                let (v, who) = if fault == Fault::Pause {
                    let v = self.random_node(c);
                    (v, format!("random node {}", names[v]))
                } else {
                    self.leader_or_random(c).await
                };
                c.pause(v)?;
                Ok((Active::Paused(vec![v]), format!("SIGSTOP {who}")))
            }
            Fault::Netem => {
                let v = self.random_node(c);
                let what = self.degrade(c, v).await?;
                Ok((Active::Degraded(v), what))
            }
        }
    }

    async fn partition(
        &mut self,
        c: &Cluster,
        g: Grudge,
        what: &str,
    ) -> Result<(Active, String), String> {
        for (node, from) in &g {
            let ns = &c.nodes[*node].host.netns;
            for f in from {
                let src = c.nodes[*f].host.ip.to_string();
                exec_in(
                    ns,
                    "iptables",
                    &["-w", "-A", "INPUT", "-s", &src, "-j", "DROP"],
                )
                .await?;
            }
        }
        let description = format!("{what}: {}", grudge::describe(&g, &names(c)));
        Ok((Active::Grudge(g), description))
    }

    /// Delay and loss on node `v`'s link. Without netem in the kernel, loss comes from random
    /// iptables drops both ways and delay from a token-bucket throttle that queues packets.
    async fn degrade(&mut self, c: &Cluster, v: usize) -> Result<String, String> {
        let host = &c.nodes[v].host;
        let (ns, dev) = (host.netns.as_str(), host.ifname.as_str());
        if self.netem {
            exec_in(
                ns,
                "tc",
                &[
                    "qdisc", "add", "dev", dev, "root", "netem", "delay", "100ms", "50ms", "loss",
                    "10%",
                ],
            )
            .await?;
            return Ok(format!(
                "netem on {}: delay 100ms ±50ms, loss 10%",
                c.nodes[v].name
            ));
        }
        for chain in ["INPUT", "OUTPUT"] {
            exec_in(
                ns,
                "iptables",
                &[
                    "-w",
                    "-A",
                    chain,
                    "-m",
                    "statistic",
                    "--mode",
                    "random",
                    "--probability",
                    "0.1",
                    "-j",
                    "DROP",
                ],
            )
            .await?;
        }
        exec_in(
            ns,
            "tc",
            &[
                "qdisc", "add", "dev", dev, "root", "tbf", "rate", "1mbit", "burst", "16kb",
                "latency", "200ms",
            ],
        )
        .await?;
        Ok(format!(
            "degraded link of {} (no netem in this kernel): 10% loss each way, 1mbit throttle",
            c.nodes[v].name
        ))
    }

    /// Undoes `active`.
    pub async fn heal(&mut self, active: Active, c: &mut Cluster) -> Result<String, String> {
        match active {
            Active::Grudge(g) => {
                for node in g.keys() {
                    flush(c, *node).await?;
                }
                Ok("partition healed".into())
            }
            Active::Killed(v) => {
                for &i in &v {
                    c.start(i).map_err(|e| e.to_string())?;
                }
                Ok(format!("restarted {}", list(c, &v)))
            }
            Active::Paused(v) => {
                for &i in &v {
                    c.resume(i);
                }
                Ok(format!("SIGCONT {}", list(c, &v)))
            }
            Active::Degraded(v) => {
                flush(c, v).await?;
                Ok(format!("link of {} restored", c.nodes[v].name))
            }
        }
    }

    /// Heals everything whatever is active: flushes every node's rules and qdisc, resumes
    /// paused nodes and restarts killed ones. The last step of every run.
    pub async fn heal_all(&mut self, c: &mut Cluster) -> Result<(), String> {
        for i in 0..c.nodes.len() {
            flush(c, i).await?;
        }
        c.heal_processes().map_err(|e| e.to_string())
    }
}

fn list(c: &Cluster, v: &[usize]) -> String {
    v.iter()
        .map(|i| c.nodes[*i].name.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Removes every rule and qdisc the nemesis may have put on node `i`.
async fn flush(c: &Cluster, i: usize) -> Result<(), String> {
    let host = &c.nodes[i].host;
    for chain in ["INPUT", "OUTPUT"] {
        exec_in(&host.netns, "iptables", &["-w", "-F", chain]).await?;
    }
    // No qdisc to delete is the normal case.
    let _ = exec_in(
        &host.netns,
        "tc",
        &["qdisc", "del", "dev", &host.ifname, "root"],
    )
    .await;
    Ok(())
}
