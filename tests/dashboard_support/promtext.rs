//! A checker of the Prometheus text exposition format (0.0.4), strict where `promtool check
//! metrics` is: names and labels well formed, one TYPE per family declared before its samples,
//! no duplicate series, histograms with cumulative `le` buckets ending in `+Inf` that equal
//! `_count`, counters ending in `_total`. Also LedgerMQ's own rule: every name starts with
//! `ledgermq_` and has HELP text.

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// The parsed exposition: family → type, and every sample.
#[derive(Debug, Default)]
pub struct Exposition {
    pub types: BTreeMap<String, String>,
    pub samples: Vec<Sample>,
}

impl Exposition {
    pub fn family(&self, name: &str) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| family_of(&s.name, &self.types) == name)
            .collect()
    }
}

fn valid_metric_name(n: &str) -> bool {
    let mut c = n.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_' || ch == ':')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == ':')
}

fn valid_label_name(n: &str) -> bool {
    let mut c = n.chars();
    matches!(c.next(), Some(ch) if ch.is_ascii_alphabetic() || ch == '_')
        && c.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

fn family_of(name: &str, types: &BTreeMap<String, String>) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if types.get(base).is_some_and(|t| t == "histogram") {
                return base.to_string();
            }
        }
    }
    name.to_string()
}

fn parse_labels(s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') || chars.peek() == Some(&',') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let name: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if chars.next() != Some('=') || chars.next() != Some('"') {
            return Err(format!("label {name:?} is not name=\"value\""));
        }
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('\\') => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    other => return Err(format!("bad escape \\{other:?} in label {name}")),
                },
                Some('"') => break,
                Some(c) => value.push(c),
                None => return Err(format!("label {name} is not closed")),
            }
        }
        let name = name.trim().to_string();
        if !valid_label_name(&name) {
            return Err(format!("bad label name {name:?}"));
        }
        if out.insert(name.clone(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
    }
}

fn parse_value(v: &str) -> Result<f64, String> {
    match v {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => v.parse().map_err(|_| format!("bad value {v:?}")),
    }
}

/// Parses and checks `text`; the error names the line.
pub fn check(text: &str) -> Result<Exposition, String> {
    let mut e = Exposition::default();
    let mut helps = BTreeSet::new();
    let mut seen_samples_of = BTreeSet::new();
    let mut series = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let at = |m: String| format!("line {}: {m}: {line:?}", i + 1);
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let mut parts = rest.trim_start().splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("HELP"), Some(name), _) if !helps.insert(name.to_string()) => {
                    return Err(at("HELP twice".into()));
                }
                (Some("TYPE"), Some(name), Some(t)) => {
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&t) {
                        return Err(at(format!("unknown type {t}")));
                    }
                    if seen_samples_of.contains(name) {
                        return Err(at("TYPE after samples of its family".into()));
                    }
                    if e.types.insert(name.to_string(), t.to_string()).is_some() {
                        return Err(at("TYPE twice".into()));
                    }
                }
                _ => {}
            }
            continue;
        }
        let (name_labels, value) = match line.rfind('}') {
            Some(close) => (&line[..=close], line[close + 1..].trim()),
            None => line
                .split_once(' ')
                .map(|(a, b)| (a, b.trim()))
                .ok_or_else(|| at("no value".into()))?,
        };
        let value = value.split(' ').next().unwrap_or_default();
        let (name, labels) = match name_labels.split_once('{') {
            Some((n, l)) => (
                n,
                parse_labels(l.strip_suffix('}').unwrap_or(l)).map_err(at)?,
            ),
            None => (name_labels, BTreeMap::new()),
        };
        if !valid_metric_name(name) {
            return Err(at(format!("bad metric name {name:?}")));
        }
        let value = parse_value(value).map_err(at)?;
        let family = family_of(name, &e.types);
        if !e.types.contains_key(&family) {
            return Err(at(format!("no TYPE for {family}")));
        }
        seen_samples_of.insert(family.clone());
        let key = format!("{name}{labels:?}");
        if !series.insert(key) {
            return Err(at("duplicate series".into()));
        }
        e.samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    for (family, t) in &e.types {
        if !family.starts_with("ledgermq_") {
            return Err(format!("{family}: not a ledgermq_ name"));
        }
        if !helps.contains(family) {
            return Err(format!("{family}: no HELP"));
        }
        match t.as_str() {
            "counter" if !family.ends_with("_total") => {
                return Err(format!("counter {family} does not end in _total"))
            }
            "gauge" if family.ends_with("_total") => {
                return Err(format!("gauge {family} ends in _total"))
            }
            "histogram" => check_histogram(family, &e)?,
            _ => {}
        }
    }
    Ok(e)
}

fn check_histogram(family: &str, e: &Exposition) -> Result<(), String> {
    // label set without `le` → buckets (le, value)
    let mut buckets: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    let mut counts: BTreeMap<String, f64> = BTreeMap::new();
    for s in e.family(family) {
        let mut rest = s.labels.clone();
        let le = rest.remove("le");
        let key = format!("{rest:?}");
        if s.name.ends_with("_bucket") {
            let le = le.ok_or_else(|| format!("{}: bucket without le", s.name))?;
            let le = parse_value(&le)?;
            buckets.entry(key).or_default().push((le, s.value));
        } else if s.name.ends_with("_count") {
            counts.insert(key, s.value);
        }
    }
    for (key, mut b) in buckets {
        b.sort_by(|x, y| x.0.total_cmp(&y.0));
        if b.windows(2).any(|w| w[1].1 < w[0].1) {
            return Err(format!("{family}{key}: buckets are not cumulative"));
        }
        let last = b.last().copied().unwrap_or((0.0, 0.0));
        if last.0 != f64::INFINITY {
            return Err(format!("{family}{key}: no +Inf bucket"));
        }
        if counts.get(&key) != Some(&last.1) {
            return Err(format!(
                "{family}{key}: _count differs from the +Inf bucket"
            ));
        }
    }
    Ok(())
}

#[test]
fn the_checker_catches_what_promtool_would() {
    let good = "# HELP ledgermq_x_total X.\n# TYPE ledgermq_x_total counter\nledgermq_x_total{a=\"b\\\"c\"} 3\n\
                # HELP ledgermq_h_seconds H.\n# TYPE ledgermq_h_seconds histogram\n\
                ledgermq_h_seconds_bucket{le=\"0.1\"} 1\nledgermq_h_seconds_bucket{le=\"+Inf\"} 2\n\
                ledgermq_h_seconds_sum 0.3\nledgermq_h_seconds_count 2\n";
    let e = check(good).unwrap();
    assert_eq!(e.family("ledgermq_h_seconds").len(), 4);
    assert_eq!(e.samples[0].labels["a"], "b\"c");
    for bad in [
        "ledgermq_x 1\n",
        "# HELP ledgermq_x X.\n# TYPE ledgermq_x counter\nledgermq_x 1\n",
        "# HELP ledgermq_g G.\n# TYPE ledgermq_g gauge\nledgermq_g 1\nledgermq_g 2\n",
        "# HELP ledgermq_g G.\n# TYPE ledgermq_g gauge\nledgermq_g{1a=\"x\"} 1\n",
        "# HELP ledgermq_h H.\n# TYPE ledgermq_h histogram\nledgermq_h_bucket{le=\"1\"} 2\nledgermq_h_count 2\n",
    ] {
        assert!(check(bad).is_err(), "{bad}");
    }
}
