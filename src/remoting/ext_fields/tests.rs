use super::*;

#[test]
fn empty() {
    let e = ExtFields::new();
    assert!(e.is_empty());
    assert_eq!(e.len(), 0);
    assert_eq!(e.get("a"), None);
    assert!(!e.contains_key("a"));
    assert_eq!(e.iter().count(), 0);
    assert_eq!(e, ExtFields::default());
    assert_eq!(format!("{e:?}"), "{}");
}

#[test]
fn insert_replaces_in_place_and_returns_the_old_value() {
    let mut e = ExtFields::new();
    assert_eq!(e.insert("a", "1"), None);
    assert_eq!(e.insert("b", "2"), None);
    assert_eq!(e.insert("a", "3"), Some("1".to_string()));
    assert_eq!(e.len(), 2);
    assert_eq!(e.get("a"), Some("3"));
    assert_eq!(e.iter().collect::<Vec<_>>(), [("a", "3"), ("b", "2")]);
    assert_eq!(&e["b"], "2");
}

#[test]
fn duplicates_from_an_iterator_last_wins() {
    let e: ExtFields = [("k", "1"), ("x", "0"), ("k", "2")].into_iter().collect();
    assert_eq!(e.len(), 2);
    assert_eq!(e.get("k"), Some("2"));
    let mut f = e.clone();
    f.extend([
        ("x".to_string(), "9".to_string()),
        ("y".to_string(), "8".to_string()),
    ]);
    assert_eq!(
        f.iter().collect::<Vec<_>>(),
        [("k", "2"), ("x", "9"), ("y", "8")]
    );
}

#[test]
fn keeps_insertion_order_and_remove_keeps_the_rest() {
    let mut e = ExtFields::new();
    for k in ["z", "y", "x", "w"] {
        e.insert(k, k.to_uppercase());
    }
    assert_eq!(e.keys().collect::<Vec<_>>(), ["z", "y", "x", "w"]);
    assert_eq!(e.remove("y"), Some("Y".to_string()));
    assert_eq!(e.remove("y"), None);
    assert_eq!(e.keys().collect::<Vec<_>>(), ["z", "x", "w"]);
    assert_eq!(e.values().collect::<Vec<_>>(), ["Z", "X", "W"]);
    let owned: Vec<(Cow<'static, str>, String)> = e.into_iter().collect();
    assert_eq!(owned.len(), 3);
}

#[test]
fn equality_ignores_order_but_not_values_or_extra_fields() {
    let a = ExtFields::from([("a", "1"), ("b", "2"), ("c", "3")]);
    let b = ExtFields::from([("c", "3"), ("a", "1"), ("b", "2")]);
    assert_eq!(a, b);
    assert_ne!(a, ExtFields::from([("a", "1"), ("b", "2"), ("c", "4")]));
    assert_ne!(a, ExtFields::from([("a", "1"), ("b", "2")]));
    assert_ne!(
        a,
        ExtFields::from([("a", "1"), ("b", "2"), ("c", "3"), ("d", "")])
    );
    assert_ne!(a, ExtFields::from([("a", "1"), ("b", "2"), ("d", "3")]));
}

#[test]
fn many_fields() {
    let mut e = ExtFields::with_capacity(4);
    for i in 0..500 {
        e.insert(format!("k{i}"), i.to_string());
    }
    for i in (0..500).step_by(2) {
        e.insert(format!("k{i}"), "even");
    }
    assert_eq!(e.len(), 500);
    assert_eq!(e.get("k498"), Some("even"));
    assert_eq!(e.get("k499"), Some("499"));
    assert_eq!(e.keys().next(), Some("k0"));
    assert_eq!(e.keys().last(), Some("k499"));
    let mut pairs: Vec<(String, String)> = e
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    pairs.reverse();
    let reversed: ExtFields = pairs.into_iter().collect();
    assert_eq!(reversed, e);
}

/// `push_wire` + `dedup_wire` leave what a run of `insert` would, few fields or many.
fn check_wire_dedup(pairs: &[(String, String)]) {
    let mut wire = ExtFields::new();
    for (k, v) in pairs {
        wire.push_wire_str(k, v);
    }
    wire.dedup_wire();
    let inserted: ExtFields = pairs.iter().cloned().collect();
    assert_eq!(
        wire.iter().collect::<Vec<_>>(),
        inserted.iter().collect::<Vec<_>>()
    );
}

#[test]
fn wire_fields_dedup_as_insert_does() {
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    check_wire_dedup(&[]);
    check_wire_dedup(&[s("a", "1")]);
    check_wire_dedup(&[s("a", "1"), s("b", "2"), s("a", "3"), s("a", "4")]);
    let many: Vec<(String, String)> = (0..5000)
        .map(|i| (format!("k{}", i % 3000), i.to_string()))
        .collect();
    check_wire_dedup(&many);
    let distinct: Vec<(String, String)> = (0..40).map(|i| s(&i.to_string(), "v")).collect();
    check_wire_dedup(&distinct);
}

/// Decoding many distinct names stays linear (an `insert` per field was quadratic).
#[test]
fn many_wire_fields_dedup_quickly() {
    let mut e = ExtFields::new();
    for i in 0..200_000 {
        e.push_wire_str(&i.to_string(), "");
    }
    let started = std::time::Instant::now();
    e.dedup_wire();
    assert_eq!(e.len(), 200_000);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn serializes_as_a_json_object_in_order() {
    let e = ExtFields::from([("b", "1"), ("a", "\"")]);
    assert_eq!(serde_json::to_string(&e).unwrap(), r#"{"b":"1","a":"\""}"#);
}

/// A header as a decoder builds it: names and values appended to the shared text.
fn wire(pairs: &[(&str, &str)]) -> ExtFields {
    let mut e = ExtFields::with_text_capacity(pairs.len(), 64);
    for (k, v) in pairs {
        let text = e.wire_text();
        let start = text.len();
        text.push_str(k);
        let mid = text.len();
        text.push_str(v);
        let end = text.len();
        e.push_wire(start..mid, mid..end);
    }
    e.dedup_wire();
    e
}

#[test]
fn wire_fields_share_one_text_and_keep_empty_and_non_ascii_values() {
    let e = wire(&[
        ("a", "P1"),
        ("é", ""),
        ("", "漢字"),
        ("i", "x\u{1}y\u{2}\"\\"),
    ]);
    assert_eq!(e.len(), 4);
    assert_eq!(e.get("a"), Some("P1"));
    assert_eq!(e.get("é"), Some(""));
    assert_eq!(e.get(""), Some("漢字"));
    assert_eq!(e.get("i"), Some("x\u{1}y\u{2}\"\\"));
    assert_eq!(e.get("b"), None);
    assert_eq!(e.text, "aP1é漢字ix\u{1}y\u{2}\"\\");
    assert_eq!(
        e,
        ExtFields::from([
            ("i", "x\u{1}y\u{2}\"\\"),
            ("", "漢字"),
            ("é", ""),
            ("a", "P1")
        ])
    );
}

#[test]
fn wire_duplicates_last_wins_at_the_first_place() {
    let e = wire(&[("a", "1"), ("b", "2"), ("a", ""), ("c", "3"), ("a", "4")]);
    assert_eq!(
        e.iter().collect::<Vec<_>>(),
        [("a", "4"), ("b", "2"), ("c", "3")]
    );
}

/// Names whose one-byte hashes collide are still told apart, and still merged when equal.
#[test]
fn dedup_compares_names_whose_hashes_collide() {
    let names: Vec<String> = (0..1000).map(|i| format!("n{i}")).collect();
    let first = &names[0];
    let twin = names[1..]
        .iter()
        .find(|n| name_hash(n) == name_hash(first))
        .expect("a collision among 1000 names");
    // Low seven bits equal, the eighth not: the mask clashes, the pairwise check tells apart.
    let half_twin = names[1..]
        .iter()
        .find(|n| name_hash(n) == name_hash(first) ^ 128)
        .expect("a half collision among 1000 names");
    let e = wire(&[(first, "1"), (half_twin, "2"), (first, "3")]);
    assert_eq!(
        e.iter().collect::<Vec<_>>(),
        [(first.as_str(), "3"), (half_twin.as_str(), "2")]
    );
    let e = wire(&[(first, "1"), (twin, "2")]);
    assert_eq!(e.len(), 2);
    assert_eq!((e.get(first), e.get(twin)), (Some("1"), Some("2")));
    let e = wire(&[(first, "1"), (twin, "2"), (first, "3")]);
    assert_eq!(
        e.iter().collect::<Vec<_>>(),
        [(first.as_str(), "3"), (twin.as_str(), "2")]
    );
}

#[test]
fn the_v2_send_names_hash_apart() {
    let hashes: std::collections::HashSet<u8> = ('a'..='n')
        .map(|c| name_hash(&c.to_string()) & 127)
        .collect();
    assert_eq!(hashes.len(), 14);
}

#[test]
fn insert_after_decode_appends_and_replaces() {
    let mut e = wire(&[("a", "P1"), ("b", "T")]);
    assert_eq!(e.insert("b", "TopicB"), Some("T".to_string()));
    assert_eq!(e.insert("c", ""), None);
    assert_eq!(e.insert(String::from("dé"), "漢"), None);
    assert_eq!(e.insert_display("q", -3i32), None);
    assert_eq!(e.insert_display("a", true), Some("P1".to_string()));
    assert_eq!(
        e.iter().collect::<Vec<_>>(),
        [
            ("a", "true"),
            ("b", "TopicB"),
            ("c", ""),
            ("dé", "漢"),
            ("q", "-3")
        ]
    );
    assert_eq!(e.remove("b"), Some("TopicB".to_string()));
    assert_eq!(e.remove("dé"), Some("漢".to_string()));
    assert_eq!(
        e.iter().collect::<Vec<_>>(),
        [("a", "true"), ("c", ""), ("q", "-3")]
    );
    e.clear();
    assert!(e.is_empty());
    assert!(e.text.is_empty());
    e.insert("x", "1");
    assert_eq!(e.get("x"), Some("1"));
}

/// Replacing a value over and over does not grow the text without bound.
#[test]
fn garbage_is_reclaimed() {
    let mut e = wire(&[("keep", "K"), ("wire", "W")]);
    e.insert(String::from("owned"), "O");
    let long = "v".repeat(100);
    for i in 0..10_000 {
        e.insert_display("n", i);
        e.insert("long", &long);
        e.insert("wire", format!("w{i}"));
    }
    assert!(e.text.len() < 2 * 200 + SLACK + 200, "{}", e.text.len());
    assert_eq!(
        e.iter().collect::<Vec<_>>(),
        [
            ("keep", "K"),
            ("wire", "w9999"),
            ("owned", "O"),
            ("n", "9999"),
            ("long", long.as_str())
        ]
    );
    // Duplicates off the wire leave garbage, reclaimed too.
    let dup: Vec<(String, String)> = (0..1000)
        .map(|i| ("d".to_string(), format!("{i:0>40}")))
        .collect();
    let refs: Vec<(&str, &str)> = dup.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let e = wire(&refs);
    assert_eq!(e.get("d"), Some(dup[999].1.as_str()));
    assert!(e.text.len() <= SLACK, "{}", e.text.len());
}

#[test]
fn taken_by_value_static_names_stay_borrowed() {
    let mut e = wire(&[("w", "1")]);
    e.insert("s", "2");
    e.insert(String::from("o"), "3");
    let out: Vec<(Cow<'static, str>, String)> = e.clone().into_iter().collect();
    assert_eq!(out.len(), 3);
    assert!(matches!(&out[0].0, Cow::Owned(k) if k == "w"));
    assert!(matches!(out[1].0, Cow::Borrowed("s")));
    assert!(matches!(&out[2].0, Cow::Owned(k) if k == "o"));
    assert_eq!(
        out.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>(),
        ["1", "2", "3"]
    );
    let mut f = ExtFields::new();
    f.extend(e.clone());
    assert_eq!(f, e);
}
