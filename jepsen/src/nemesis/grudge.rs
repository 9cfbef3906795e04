//! Partitions as grudges: for each node, the nodes whose packets it drops. A symmetric cut
//! between two groups is a grudge both ways; a one-way fault is a grudge one way only. Pure
//! functions of node indices, so each partition shape is tested without a network.

use std::collections::BTreeMap;

/// node → the nodes it drops incoming packets from.
pub type Grudge = BTreeMap<usize, Vec<usize>>;

/// Every node of `a` drops every node of `b` and the other way round.
pub fn cut(a: &[usize], b: &[usize]) -> Grudge {
    let mut g = Grudge::new();
    for &x in a {
        for &y in b {
            g.entry(x).or_default().push(y);
            g.entry(y).or_default().push(x);
        }
    }
    g
}

/// `node` cut off from every other of `n` nodes, both ways.
pub fn isolate(node: usize, n: usize) -> Grudge {
    let rest: Vec<usize> = (0..n).filter(|&i| i != node).collect();
    cut(&[node], &rest)
}

/// `node` keeps sending but drops everything from the other nodes.
pub fn deafen(node: usize, n: usize) -> Grudge {
    let rest: Vec<usize> = (0..n).filter(|&i| i != node).collect();
    let mut g = Grudge::new();
    g.insert(node, rest);
    g
}

/// Majorities ring: node i hears only its next ⌊n/2⌋ successors, so each node sees a
/// majority (itself included) and no two nodes see the same one. For three nodes this is
/// n0 ← n1, n1 ← n2, n2 ← n0: necessarily one-way links.
pub fn majorities_ring(order: &[usize]) -> Grudge {
    let n = order.len();
    let mut g = Grudge::new();
    for (pos, &node) in order.iter().enumerate() {
        let hears: Vec<usize> = (1..=n / 2).map(|k| order[(pos + k) % n]).collect();
        let drops: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&o| o != node && !hears.contains(&o))
            .collect();
        if !drops.is_empty() {
            g.insert(node, drops);
        }
    }
    g
}

/// Bridge: `order[0]` hears everyone; the rest split into two halves that cannot hear each
/// other.
pub fn bridge(order: &[usize]) -> Grudge {
    let Some((_, rest)) = order.split_first() else {
        return Grudge::new();
    };
    let (a, b) = rest.split_at(rest.len() / 2);
    cut(a, b)
}

/// Human-readable: `n0 drops n1 n2; n1 drops n0`.
pub fn describe(g: &Grudge, names: &[String]) -> String {
    g.iter()
        .map(|(node, from)| {
            let from: Vec<&str> = from.iter().map(|i| names[*i].as_str()).collect();
            format!("{} drops {}", names[*node], from.join(" "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hears(g: &Grudge, x: usize, y: usize) -> bool {
        !g.get(&x).is_some_and(|v| v.contains(&y))
    }

    #[test]
    fn isolation_and_halves_are_symmetric() {
        let g = isolate(1, 3);
        assert_eq!(g[&1], vec![0, 2]);
        assert_eq!(g[&0], vec![1]);
        assert!(hears(&g, 0, 2) && hears(&g, 2, 0));
        let g = cut(&[2], &[0, 1]);
        assert!(!hears(&g, 2, 0) && !hears(&g, 0, 2) && hears(&g, 0, 1));
    }

    #[test]
    fn deafened_node_still_reaches_others() {
        let g = deafen(0, 3);
        assert!(!hears(&g, 0, 1) && !hears(&g, 0, 2));
        assert!(hears(&g, 1, 0) && hears(&g, 2, 0));
    }

    #[test]
    fn ring_gives_each_node_a_distinct_majority() {
        for order in [vec![0, 1, 2], vec![2, 0, 1], vec![0, 1, 2, 3, 4]] {
            let n = order.len();
            let g = majorities_ring(&order);
            let mut views = Vec::new();
            for x in 0..n {
                let view: Vec<usize> = (0..n).filter(|&y| y == x || hears(&g, x, y)).collect();
                assert!(view.len() > n / 2, "{x} sees {view:?}");
                views.push(view);
            }
            views.sort();
            views.dedup();
            assert_eq!(views.len(), n, "{views:?}");
        }
    }

    #[test]
    fn bridge_node_hears_both_sides_that_cannot_hear_each_other() {
        let g = bridge(&[1, 0, 2]);
        assert!(hears(&g, 1, 0) && hears(&g, 1, 2) && hears(&g, 0, 1) && hears(&g, 2, 1));
        assert!(!hears(&g, 0, 2) && !hears(&g, 2, 0));
        let names: Vec<String> = (0..3).map(|i| format!("n{i}")).collect();
        assert_eq!(describe(&g, &names), "n0 drops n2; n2 drops n0");
    }
}
