//! Named schedules, from the cheap smoke test to the soak (`jepsen scenarios` lists them).
//! A scenario fixes the faults, their rhythm and the time limit; the seed fixes the rest.

use std::time::Duration;

use rand::rngs::StdRng;

use crate::nemesis::{schedule, Fault, Step, Timing};

/// A named schedule.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    pub faults: Vec<Fault>,
    /// Length of the fault phase.
    pub time_limit: Duration,
    pub timing: Timing,
    /// Steps used as they are instead of a random schedule.
    pub fixed: Option<Vec<Step>>,
    /// Run against the broker's test-only `unsafeAckBeforeCommit`.
    pub unsafe_ack: bool,
    /// Whether a correct broker must come out valid (only the unsafe self-test must not).
    pub expect_valid: bool,
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn every(
    faults: &[Fault],
    limit: u64,
    dur: (u64, u64),
    gap: (u64, u64),
) -> (Vec<Fault>, Duration, Timing) {
    (
        faults.to_vec(),
        secs(limit),
        Timing {
            duration: (secs(dur.0), secs(dur.1)),
            gap: (secs(gap.0), secs(gap.1)),
        },
    )
}

fn named(
    name: &'static str,
    about: &'static str,
    (faults, time_limit, timing): (Vec<Fault>, Duration, Timing),
) -> Scenario {
    Scenario {
        name,
        about,
        faults,
        time_limit,
        timing,
        fixed: None,
        unsafe_ack: false,
        expect_valid: true,
    }
}

/// Every named scenario.
pub fn all() -> Vec<Scenario> {
    use Fault::*;
    let step = |gap: u64, fault: Fault, duration: u64| Step {
        gap: secs(gap),
        fault,
        duration: secs(duration),
    };
    let smoke_steps = vec![step(8, PartitionLeader, 10), step(10, KillLeader, 10)];
    let unsafe_steps = vec![step(6, PartitionLeader, 8), step(8, PartitionLeader, 8)];
    vec![
        Scenario {
            fixed: Some(smoke_steps),
            ..named(
                "smoke",
                "partition the leader once, kill -9 the leader once (~70 s); CI",
                every(&[PartitionLeader, KillLeader], 38, (10, 10), (8, 10)),
            )
        },
        named("partition-leader", "isolate the current leader every 10-20 s (2 min)", every(&[PartitionLeader], 120, (8, 15), (5, 10))),
        named("kill-random", "kill -9 a random node every ~10 s, restart it (2 min)", every(&[Kill], 120, (5, 10), (5, 10))),
        named("kill-node", "kill -9 a random node's process (with --groups, every group's member on it), restart it (2 min)", every(&[Kill], 120, (5, 10), (5, 10))),
        named("kill-leader", "kill -9 the leader, restart it (2 min)", every(&[KillLeader], 120, (5, 10), (5, 10))),
        named("kill-majority", "kill -9 two of three nodes, wait, restart (2 min)", every(&[KillMajority], 120, (8, 15), (8, 12))),
        named("pause-leader", "SIGSTOP the leader for ~10 s, SIGCONT (2 min)", every(&[PauseLeader], 120, (8, 12), (5, 10))),
        named("pause", "SIGSTOP a random node, SIGCONT (2 min)", every(&[Pause], 120, (8, 12), (5, 10))),
        named("halves", "random halves every ~15 s (3 min)", every(&[PartitionHalves], 180, (10, 15), (5, 10))),
        named("ring", "majorities ring (3 min)", every(&[MajoritiesRing], 180, (10, 15), (5, 10))),
        named("bridge", "two halves joined by one node (3 min)", every(&[Bridge], 180, (10, 15), (5, 10))),
        named("oneway", "the leader can send but not receive (3 min)", every(&[PartitionOneway], 180, (10, 15), (5, 10))),
        named("netem", "delay and loss on one node's link (3 min)", every(&[Netem], 180, (15, 20), (5, 10))),
        named("mixed-soak", "every fault at random, 5-20 s each with 5-20 s gaps (10 min)", every(&Fault::ALL, 600, (5, 20), (5, 20))),
        Scenario {
            fixed: Some(unsafe_steps),
            unsafe_ack: true,
            expect_valid: false,
            ..named(
                "unsafe-ack",
                "partition the leader twice against unsafeAckBeforeCommit=true: must be INVALID (lost writes)",
                every(&[PartitionLeader], 30, (8, 8), (6, 8)),
            )
        },
    ]
}

pub fn find(name: &str) -> Option<Scenario> {
    all().into_iter().find(|s| s.name == name)
}

impl Scenario {
    /// The steps to run: the fixed ones, or a seeded schedule that fits the time limit.
    pub fn steps(&self, rng: &mut StdRng) -> Vec<Step> {
        match &self.fixed {
            Some(steps) => steps.clone(),
            None => schedule(&self.faults, self.time_limit, &self.timing, rng),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn every_scenario_has_steps_and_a_unique_name() {
        let all = all();
        assert!(all.len() >= 8);
        let mut names: Vec<&str> = all.iter().map(|s| s.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len());
        for s in &all {
            let steps = s.steps(&mut StdRng::seed_from_u64(3));
            assert!(!steps.is_empty(), "{}", s.name);
        }
        let unsafe_ack = find("unsafe-ack").unwrap();
        assert!(unsafe_ack.unsafe_ack && !unsafe_ack.expect_valid);
        assert!(find("smoke").unwrap().expect_valid);
    }
}
