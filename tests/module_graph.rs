//! No import cycle between the top-level modules of `src/` (issue 17's "metrics as a leaf").
//!
//! Reads every `.rs` file under `src/`, finds each path that leaves its top-level module
//! (`crate::x`, `$crate::x`, `crate::{x, y}`, and `super::` chains that climb to the crate
//! root), and fails with the path that closes a cycle and the file:line of every edge on it.
//! Comments, string and char literals are skipped, and inline `mod name { .. }` blocks are
//! tracked, so `super::` inside a test module resolves where the compiler resolves it.
//!
//! A layered crate keeps its layers honest this way: `store` never reaches up into `broker`,
//! `metrics` records for everyone and so imports none of them, and so on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One import: the top-level module it leaves for, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Edge {
    to: String,
    line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
}

/// Splits Rust source into identifiers and punctuation, with their line numbers, dropping
/// comments, string/byte/raw-string literals, char literals, lifetimes and numbers.
fn tokenize(src: &str) -> Vec<(Tok, usize)> {
    let b: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let at = |i: usize| b.get(i).copied().unwrap_or('\0');
    while i < b.len() {
        let c = b[i];
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            '/' if at(i + 1) == '/' => {
                while i < b.len() && b[i] != '\n' {
                    i += 1;
                }
            }
            '/' if at(i + 1) == '*' => {
                let mut depth = 0;
                while i < b.len() {
                    if b[i] == '/' && at(i + 1) == '*' {
                        depth += 1;
                        i += 2;
                    } else if b[i] == '*' && at(i + 1) == '/' {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        line += usize::from(b[i] == '\n');
                        i += 1;
                    }
                }
            }
            '"' => {
                i += 1;
                while i < b.len() && b[i] != '"' {
                    if b[i] == '\\' {
                        i += 1;
                    }
                    line += usize::from(at(i) == '\n');
                    i += 1;
                }
                i += 1;
            }
            // Raw strings: r"..", r#".."#, br#".."#.
            'r' | 'b' if i == 0 || !is_ident_char(b[i - 1]) => {
                if let Some((body, hashes)) = raw_string_start(&b, i) {
                    let mut j = body;
                    while j < b.len() && !(b[j] == '"' && (1..=hashes).all(|k| at(j + k) == '#')) {
                        line += usize::from(b[j] == '\n');
                        j += 1;
                    }
                    i = j + 1 + hashes;
                } else {
                    let start = i;
                    while i < b.len() && is_ident_char(b[i]) {
                        i += 1;
                    }
                    out.push((Tok::Ident(b[start..i].iter().collect()), line));
                }
            }
            '\'' => {
                // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
                if at(i + 1) == '\\' {
                    i += 3; // the quote, the backslash and the escaped char
                    while i < b.len() && b[i] != '\'' {
                        i += 1;
                    }
                    i += 1;
                } else if at(i + 2) == '\'' {
                    i += 3;
                } else {
                    i += 1;
                    while i < b.len() && is_ident_char(b[i]) {
                        i += 1;
                    }
                }
            }
            ':' if at(i + 1) == ':' => {
                out.push((Tok::PathSep, line));
                i += 2;
            }
            c if c.is_ascii_digit() => {
                while i < b.len()
                    && (is_ident_char(b[i]) || b[i] == '.' && at(i + 1).is_ascii_digit())
                {
                    i += 1;
                }
            }
            c if is_ident_char(c) => {
                let start = i;
                while i < b.len() && is_ident_char(b[i]) {
                    i += 1;
                }
                out.push((Tok::Ident(b[start..i].iter().collect()), line));
            }
            c if c.is_whitespace() => i += 1,
            c => {
                out.push((Tok::Punct(c), line));
                i += 1;
            }
        }
    }
    out
}

/// If a raw string starts at `i` (`r"`, `r#"`, `br##"`, ...): where its text starts and how
/// many `#` close it.
fn raw_string_start(b: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i + usize::from(b.get(i) == Some(&'b'));
    if b.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = b[j..].iter().take_while(|c| **c == '#').count();
    (b.get(j + hashes) == Some(&'"')).then_some((j + hashes + 1, hashes))
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Every path in `src` that leads to a top-level module, given the file's own module path
/// (`["broker", "processor", "send"]` for `src/broker/processor/send.rs`).
fn imports(src: &str, file_module: &[String]) -> Vec<Edge> {
    let toks = tokenize(src);
    let ident = |i: usize| match toks.get(i) {
        Some((Tok::Ident(s), _)) => Some(s.as_str()),
        _ => None,
    };
    let is = |i: usize, t: Tok| toks.get(i).map(|(x, _)| x) == Some(&t);
    // Inline modules opened in this file: (name, brace depth at which it closes).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let line = toks[i].1;
        match &toks[i].0 {
            Tok::Punct('{') => {
                depth += 1;
            }
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            Tok::Ident(w) if w == "mod" => {
                if let (Some(name), true) = (ident(i + 1), is(i + 2, Tok::Punct('{'))) {
                    inline.push((name.to_string(), depth));
                }
            }
            Tok::Ident(w)
                if (w == "crate" || w == "ledgermq")
                    && is(i + 1, Tok::PathSep)
                    && !(i > 0 && is(i - 1, Tok::PathSep)) =>
            {
                // `crate::x` (also `$crate::x`), or `crate::{x, y::z}`.
                if let Some(first) = ident(i + 2) {
                    out.push(Edge {
                        to: first.to_string(),
                        line,
                    });
                } else if is(i + 2, Tok::Punct('{')) {
                    let mut j = i + 3;
                    let mut d = 1;
                    let mut expect_name = true;
                    while j < toks.len() && d > 0 {
                        match &toks[j].0 {
                            Tok::Punct('{') => d += 1,
                            Tok::Punct('}') => d -= 1,
                            Tok::Punct(',') if d == 1 => expect_name = true,
                            Tok::Ident(s) if d == 1 && expect_name => {
                                out.push(Edge {
                                    to: s.clone(),
                                    line: toks[j].1,
                                });
                                expect_name = false;
                            }
                            _ => {}
                        }
                        j += 1;
                    }
                }
            }
            Tok::Ident(w) if w == "super" && !(i > 0 && is(i - 1, Tok::PathSep)) => {
                // Climb: the module this `super` chain names, from where it is written.
                let mut here: Vec<String> = file_module.to_vec();
                here.extend(inline.iter().map(|(n, _)| n.clone()));
                let mut j = i;
                while ident(j) == Some("super") && is(j + 1, Tok::PathSep) {
                    here.pop();
                    j += 2;
                }
                if here.is_empty() {
                    if let Some(first) = ident(j) {
                        out.push(Edge {
                            to: first.to_string(),
                            line,
                        });
                    }
                }
                i = j.max(i + 1); // `pub(super)` climbs nowhere
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// `src/a/b.rs` → `["a", "b"]`, `src/a/mod.rs` → `["a"]`.
fn module_path(src_dir: &Path, file: &Path) -> Vec<String> {
    let rel = file
        .strip_prefix(src_dir)
        .unwrap_or(file)
        .with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

type Graph = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// Top-level module → the top-level modules it imports → where (file:line).
fn graph(src_dir: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src_dir, &mut files);
    let tops: BTreeSet<String> = files
        .iter()
        .filter_map(|f| module_path(src_dir, f).first().cloned())
        .filter(|t| t != "lib" && t != "main")
        .collect();
    let mut g: Graph = tops.iter().map(|t| (t.clone(), BTreeMap::new())).collect();
    for f in &files {
        let module = module_path(src_dir, f);
        let Some(from) = module.first().filter(|t| tops.contains(*t)) else {
            continue; // lib.rs and main.rs are the roots, not modules
        };
        let src = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for e in imports(&src, &module) {
            if &e.to != from && tops.contains(&e.to) {
                g.get_mut(from)
                    .expect("every top is a key")
                    .entry(e.to)
                    .or_default()
                    .push(format!("{}:{}", f.display(), e.line));
            }
        }
    }
    g
}

/// Cycles as closed paths `[a, b, .., a]`: for each module on one, the shortest cycle through
/// it, each set of modules reported once.
fn cycles(g: &Graph) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut reported: BTreeSet<BTreeSet<String>> = BTreeSet::new();
    for start in g.keys() {
        // Shortest path from start back to start, breadth-first.
        let mut prev: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start.clone()]);
        let mut closed = None;
        while let Some(n) = queue.pop_front() {
            for next in g.get(&n).into_iter().flat_map(|m| m.keys()) {
                if next == start {
                    closed = Some(n.clone());
                    break;
                }
                if !prev.contains_key(next) {
                    prev.insert(next.clone(), n.clone());
                    queue.push_back(next.clone());
                }
            }
            if closed.is_some() {
                break;
            }
        }
        if let Some(mut n) = closed {
            let mut path = vec![start.clone(), n.clone()];
            while &n != start {
                n = prev[&n].clone();
                path.push(n.clone());
            }
            path.reverse();
            let members: BTreeSet<String> = path.iter().cloned().collect();
            if reported.insert(members) {
                found.push(path);
            }
        }
    }
    found
}

fn describe(g: &Graph, cycle: &[String]) -> String {
    let mut s = cycle.join(" -> ");
    for w in cycle.windows(2) {
        let sites = &g[&w[0]][&w[1]];
        s.push_str(&format!("\n    {} -> {}: {}", w[0], w[1], sites.join(", ")));
    }
    s
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let src_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let g = graph(&src_dir);
    assert!(g.len() > 10, "found only {:?} under src/", g.keys());
    assert!(
        g["broker"].contains_key("raft"),
        "the scan must see the broker's imports"
    );
    let found = cycles(&g);
    assert!(
        found.is_empty(),
        "import cycles between top-level modules of src/:\n{}",
        found
            .iter()
            .map(|c| describe(&g, c))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn metrics_is_a_leaf_for_the_layers_that_record_into_it() {
    let g = graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    for owner in ["broker", "namesrv", "store", "raft"] {
        assert!(
            !g["metrics"].contains_key(owner),
            "metrics imports {owner}: {:?}",
            g["metrics"][owner]
        );
    }
}

#[test]
fn the_scan_finds_every_kind_of_path_and_skips_comments_and_strings() {
    let m = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let src = r##"
        //! Talks about crate::doc_comment only.
        use crate::alpha::X;
        use crate::{beta, gamma::{Y, Z}};
        fn f() { $crate::delta::g(); let s = "crate::in_string"; let r = r#"crate::raw"#; }
        /* crate::block_comment */ let c = '"'; let l: &'static str = "";
        fn h() -> u8 { crate::epsilon::k() }
        mod tests { use super::super::zeta; use super::*; pub(super) fn t() {} }
        use super::super::eta::W;
    "##;
    let to: Vec<String> = imports(src, &m(&["top", "file"]))
        .into_iter()
        .map(|e| e.to)
        .collect();
    // `super::super` from `top::file` is the root; from `top::file::tests` it is `top`.
    assert_eq!(
        to,
        m(&["alpha", "beta", "gamma", "delta", "epsilon", "eta"])
    );

    let mut g = Graph::new();
    for (a, b) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "e")] {
        g.entry(a.into())
            .or_default()
            .insert(b.into(), vec!["here:1".into()]);
        g.entry(b.into()).or_default();
    }
    assert_eq!(cycles(&g), vec![m(&["a", "b", "c", "a"])]);
    g.get_mut("c").map(|m| m.remove("a"));
    assert!(cycles(&g).is_empty());
}
