//! How Java's `mqadmin` prints things (`UtilAll`, `PermName`, `TopicConfig.toString()`, ...),
//! so that our output lines up with what RocketMQ operators and their scripts expect.

use crate::message::MessageExt;
use crate::protocol::topic::{perm, TopicConfig};

/// Java's `UtilAll.frontStringAtLeast`: at most `n` characters.
pub(super) fn front(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// A Java `double` printed by `String.valueOf` (`0.0`, `1.5`).
pub(super) fn java_double(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e7 {
        format!("{x:.1}")
    } else {
        x.to_string()
    }
}

/// Local time as Java's `UtilAll.timeMillisToHumanString2` (`yyyy-MM-dd HH:mm:ss,SSS`) or,
/// without millis, `UtilAll.formatDate(.., YYYY_MM_DD_HH_MM_SS)`.
pub(super) fn local_time(ms: i64, with_millis: bool) -> String {
    let Some(t) = crate::time::local_time(ms.div_euclid(1000)) else {
        return ms.to_string();
    };
    let base = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    );
    if with_millis {
        format!("{base},{:03}", ms.rem_euclid(1000))
    } else {
        base
    }
}

/// Java's `PermName.perm2String`: `RW-`, `R--`, `-W-`, `RWX`.
pub(super) fn perm_string(p: u32) -> String {
    let bit = |b: u32, c: char| if p & b != 0 { c } else { '-' };
    [
        bit(perm::READ, 'R'),
        bit(perm::WRITE, 'W'),
        bit(perm::INHERIT, 'X'),
    ]
    .iter()
    .collect()
}

/// Java's `TopicConfig.toString()` (4.9.x).
pub(super) fn topic_config_line(tc: &TopicConfig) -> String {
    format!(
        "TopicConfig [topicName={}, readQueueNums={}, writeQueueNums={}, perm={}, topicFilterType={}, topicSysFlag={}, order={}]",
        tc.topic_name,
        tc.read_queue_nums,
        tc.write_queue_nums,
        perm_string(tc.perm),
        tc.topic_filter_type,
        tc.topic_sys_flag,
        tc.order
    )
}

pub(super) fn cluster_row(cols: [&str; 10]) -> String {
    format!(
        "{:<16}  {:<22}  {:<4}  {:<22} {:<16} {:>19} {:>19} {:>10} {:>5} {:>6}",
        cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8], cols[9]
    )
}

/// `MQVersion.getVersionDesc` for the ordinals clients are known to send.
pub(super) fn version_desc(v: i32) -> String {
    match v {
        63 => "V3_1_8".into(),
        401 => "V4_9_4".into(),
        403 => "V4_9_5".into(),
        407 => "V4_9_7".into(),
        413 => "V5_0_0".into(),
        other => format!("V({other})"),
    }
}

/// Java's `HashMap.toString()` of the properties: `{KEY=value, ...}`.
pub(super) fn properties_line(m: &MessageExt) -> String {
    let pairs: Vec<String> = m
        .properties
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_formats() {
        assert_eq!(perm_string(6), "RW-");
        assert_eq!(perm_string(7), "RWX");
        assert_eq!(perm_string(2), "-W-");
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(1.5), "1.5");
        assert_eq!(front("abcdef", 3), "abc");
        assert_eq!(front("ab", 3), "ab");
        assert_eq!(
            topic_config_line(&TopicConfig::new("T", 8)),
            "TopicConfig [topicName=T, readQueueNums=8, writeQueueNums=8, perm=RW-, topicFilterType=SINGLE_TAG, topicSysFlag=0, order=false]"
        );
        assert_eq!(
            local_time(1_700_000_000_123, true).len(),
            "2023-11-14 22:13:20,123".len()
        );
        assert!(local_time(1_700_000_000_123, true).ends_with(",123"));
    }

    #[test]
    fn cluster_rows_line_up_like_java() {
        let header = cluster_row([
            "#Cluster Name",
            "#Broker Name",
            "#BID",
            "#Addr",
            "#Version",
            "#InTPS(LOAD)",
            "#OutTPS(LOAD)",
            "#PCWait(ms)",
            "#Hour",
            "#SPACE",
        ]);
        assert!(header.starts_with("#Cluster Name     #Broker Name            #BID  #Addr"));
        let row = cluster_row([
            "C",
            "B",
            "0",
            "127.0.0.1:10911",
            "V4_9_7",
            "     0.00(0,0ms)",
            "x",
            "0",
            "0.01",
            "0.1000",
        ]);
        assert_eq!(row.find("127.0.0.1"), header.find("#Addr"));
    }
}
