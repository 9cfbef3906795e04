//! Faults and their schedule. Each [`Fault`] is started by the nemesis, recorded in the history
//! (`fault` invoke/ok with what it did), left active for a while, then healed (`heal`
//! invoke/ok). One fault is active at a time; the last step of every run heals everything.
//!
//! ```text
//! mod.rs      Fault, Schedule: which fault when, from the seed
//! grudge.rs   partitions as "node X drops packets from Y" sets (pure, tested)
//! apply.rs    starting and healing faults: iptables, tc, signals
//! ```

pub mod apply;
pub mod grudge;

use std::fmt;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

/// A fault the nemesis can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Cut the nodes into two random halves (1 | 2 for three nodes).
    PartitionHalves,
    /// Cut the current leader off from the other nodes; clients still reach it.
    PartitionLeader,
    /// Every node hears a majority, no two the same one (one-way links for three nodes).
    MajoritiesRing,
    /// Two halves joined by one bridge node that hears both.
    Bridge,
    /// The leader can send to its peers but receives nothing from them.
    PartitionOneway,
    /// kill -9 a random node; restart it at the heal.
    Kill,
    /// kill -9 the leader; restart it at the heal.
    KillLeader,
    /// kill -9 a majority; restart them at the heal.
    KillMajority,
    /// SIGSTOP a random node; SIGCONT at the heal.
    Pause,
    /// SIGSTOP the leader; SIGCONT at the heal.
    PauseLeader,
    /// Delay and loss on one node's link (tc netem where the kernel has it).
    Netem,
}

impl Fault {
    pub const ALL: [Fault; 11] = [
        Fault::PartitionHalves,
        Fault::PartitionLeader,
        Fault::MajoritiesRing,
        Fault::Bridge,
        Fault::PartitionOneway,
        Fault::Kill,
        Fault::KillLeader,
        Fault::KillMajority,
        Fault::Pause,
        Fault::PauseLeader,
        Fault::Netem,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::PartitionHalves => "partition-halves",
            Fault::PartitionLeader => "partition-leader",
            Fault::MajoritiesRing => "majorities-ring",
            Fault::Bridge => "bridge",
            Fault::PartitionOneway => "partition-oneway",
            Fault::Kill => "kill",
            Fault::KillLeader => "kill-leader",
            Fault::KillMajority => "kill-majority",
            Fault::Pause => "pause",
            Fault::PauseLeader => "pause-leader",
            Fault::Netem => "netem",
        }
    }

    /// Parses a name; `ring`, `halves` and `oneway` are accepted as short forms.
    pub fn parse(s: &str) -> Option<Fault> {
        let s = s.trim();
        let alias = match s {
            "ring" => "majorities-ring",
            "halves" => "partition-halves",
            "oneway" => "partition-oneway",
            other => other,
        };
        Fault::ALL.into_iter().find(|f| f.name() == alias)
    }

    /// Parses `a,b,c`; `mixed` or `all` means every fault.
    pub fn parse_list(s: &str) -> Result<Vec<Fault>, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "mixed" || part == "all" {
                out.extend(Fault::ALL);
                continue;
            }
            match Fault::parse(part) {
                Some(f) => out.push(f),
                None => {
                    let names: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
                    return Err(format!(
                        "unknown nemesis {part:?}; known: {}, mixed",
                        names.join(", ")
                    ));
                }
            }
        }
        out.dedup();
        Ok(out)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One step of a schedule: wait `gap` with everything healthy, then hold `fault` for
/// `duration`, then heal.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub gap: Duration,
    pub fault: Fault,
    pub duration: Duration,
}

/// How faults are spread over the fault phase.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// Each fault lasts between these (inclusive).
    pub duration: (Duration, Duration),
    /// Healthy time before each fault.
    pub gap: (Duration, Duration),
}

impl Default for Timing {
    /// Jepsen's usual rhythm: faults of 5–20 s with 5–20 s of calm between them.
    fn default() -> Self {
        Timing {
            duration: (Duration::from_secs(5), Duration::from_secs(20)),
            gap: (Duration::from_secs(5), Duration::from_secs(20)),
        }
    }
}

fn between(rng: &mut StdRng, (lo, hi): (Duration, Duration)) -> Duration {
    if hi <= lo {
        return lo;
    }
    Duration::from_millis(rng.gen_range(lo.as_millis() as u64..=hi.as_millis() as u64))
}

/// Steps that fit in `limit`: faults picked at random from `faults` (each used once before
/// any repeats, so short runs still see every fault asked for), with random durations and gaps.
pub fn schedule(faults: &[Fault], limit: Duration, timing: &Timing, rng: &mut StdRng) -> Vec<Step> {
    let mut steps = Vec::new();
    if faults.is_empty() {
        return steps;
    }
    let mut used = Duration::ZERO;
    let mut bag: Vec<Fault> = Vec::new();
    loop {
        if bag.is_empty() {
            bag = faults.to_vec();
            bag.shuffle(rng);
        }
        let gap = between(rng, timing.gap);
        let duration = between(rng, timing.duration);
        if used + gap + duration > limit {
            break;
        }
        used += gap + duration;
        let fault = bag.pop().unwrap_or(faults[0]);
        steps.push(Step {
            gap,
            fault,
            duration,
        });
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn names_parse_back_and_mixed_means_all() {
        for f in Fault::ALL {
            assert_eq!(Fault::parse(f.name()), Some(f));
        }
        assert_eq!(
            Fault::parse_list("partition-leader, kill").unwrap(),
            vec![Fault::PartitionLeader, Fault::Kill]
        );
        assert_eq!(
            Fault::parse_list("ring").unwrap(),
            vec![Fault::MajoritiesRing]
        );
        assert_eq!(Fault::parse_list("mixed").unwrap().len(), Fault::ALL.len());
        assert!(Fault::parse_list("flood")
            .unwrap_err()
            .contains("partition-leader"));
    }

    #[test]
    fn a_schedule_fits_its_limit_is_seeded_and_uses_every_fault() {
        let t = Timing::default();
        let faults = [Fault::PartitionLeader, Fault::Kill, Fault::Pause];
        let a = schedule(
            &faults,
            Duration::from_secs(120),
            &t,
            &mut StdRng::seed_from_u64(7),
        );
        let b = schedule(
            &faults,
            Duration::from_secs(120),
            &t,
            &mut StdRng::seed_from_u64(7),
        );
        assert_eq!(a, b);
        let total: Duration = a.iter().map(|s| s.gap + s.duration).sum();
        assert!(total <= Duration::from_secs(120));
        assert!(a.len() >= 3, "{a:?}");
        for f in faults {
            assert!(a[..3].iter().any(|s| s.fault == f), "{a:?}");
        }
        assert!(schedule(
            &[],
            Duration::from_secs(60),
            &t,
            &mut StdRng::seed_from_u64(1)
        )
        .is_empty());
    }
}
