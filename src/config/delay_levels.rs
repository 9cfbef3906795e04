//! `messageDelayLevel`: RocketMQ's delay levels, e.g. `1s 5s 10s 30s 1m ... 2h`. Level `n`
//! (1-based) waits the n-th duration; a message asking for a level above the last waits the
//! last. Units are RocketMQ's: `s`, `m`, `h`, `d` (a bare number is refused, as Java's parser
//! refuses a unit it does not know).

/// RocketMQ's default `messageDelayLevel`.
pub const DEFAULT_MESSAGE_DELAY_LEVEL: &str =
    "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";

/// RocketMQ's default `timerMaxDelaySec`: three days.
pub const DEFAULT_TIMER_MAX_DELAY_SEC: u64 = 3 * 24 * 3600;

/// The levels' delays in milliseconds, level 1 first.
pub fn parse(v: &str) -> Result<Vec<u64>, String> {
    let mut out = Vec::new();
    for part in v.split_whitespace() {
        let (digits, unit) = part.split_at(part.len().saturating_sub(1));
        let scale: u64 = match unit {
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => {
                return Err(format!(
                    "{v:?} has {part:?}; each level is a number with a unit s, m, h or d"
                ))
            }
        };
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("{v:?} has {part:?}, which is not a whole number of {unit}"))?;
        out.push(n.saturating_mul(scale));
    }
    if out.is_empty() {
        return Err("is empty; expected levels such as \"1s 5s 10s\"".into());
    }
    Ok(out)
}

/// The levels written back in the file's form (`getBrokerConfig`).
pub fn format(levels: &[u64]) -> String {
    levels
        .iter()
        .map(|ms| match *ms {
            ms if ms % 86_400_000 == 0 && ms > 0 => format!("{}d", ms / 86_400_000),
            ms if ms % 3_600_000 == 0 && ms > 0 => format!("{}h", ms / 3_600_000),
            ms if ms % 60_000 == 0 && ms > 0 => format!("{}m", ms / 60_000),
            ms => format!("{}s", ms / 1_000),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_has_eighteen_levels_from_one_second_to_two_hours() {
        let levels = parse(DEFAULT_MESSAGE_DELAY_LEVEL).unwrap();
        assert_eq!(levels.len(), 18);
        assert_eq!(levels[0], 1_000);
        assert_eq!(levels[1], 5_000);
        assert_eq!(levels[4], 60_000);
        assert_eq!(levels[17], 7_200_000);
        assert_eq!(format(&levels), DEFAULT_MESSAGE_DELAY_LEVEL);
    }

    #[test]
    fn a_level_without_a_known_unit_is_refused() {
        assert!(parse("1s 5").is_err());
        assert!(parse("1s 5x").is_err());
        assert!(parse("xs").is_err());
        assert!(parse("  ").is_err());
        assert_eq!(parse("2d").unwrap(), vec![172_800_000]);
    }
}
