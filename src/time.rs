//! The wall clock, read the two ways RocketMQ needs it: milliseconds since the Unix epoch (the
//! timestamps in messages, versions and answers) and the local calendar time (`deleteWhen`
//! hours, `mqadmin`'s printed dates). One home so every layer reads the clock the same way.
//!
//! Durations and deadlines use `std::time::Instant`, never these.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch; 0 if the clock is set before 1970.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A calendar time in the process's time zone (`TZ`, else `/etc/localtime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    /// 1..=12.
    pub month: u8,
    /// 1..=31.
    pub day: u8,
    /// 0..=23.
    pub hour: u8,
    pub minute: u8,
    /// 0..=60 (a leap second).
    pub second: u8,
}

/// The local calendar time of `secs` seconds since the Unix epoch, or `None` if the C library
/// cannot represent it.
pub fn local_time(secs: i64) -> Option<LocalTime> {
    let secs = libc::time_t::try_from(secs).ok()?;
    // SAFETY: `tm` is plain old data; all-zero is a valid value for it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: localtime_r reads `secs` and writes only into the `tm` we own; it is the
    // thread-safe variant (no shared static buffer).
    if unsafe { libc::localtime_r(&secs, &mut tm) }.is_null() {
        return None;
    }
    let small = |v: libc::c_int| u8::try_from(v).ok();
    Some(LocalTime {
        year: tm.tm_year.checked_add(1900)?,
        month: small(tm.tm_mon.checked_add(1)?)?,
        day: small(tm.tm_mday)?,
        hour: small(tm.tm_hour)?,
        minute: small(tm.tm_min)?,
        second: small(tm.tm_sec)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_after_2023() {
        assert!(now_ms() > 1_700_000_000_000);
    }

    #[test]
    fn local_time_is_a_calendar_time() {
        let t = local_time(1_700_000_000).expect("localtime_r");
        // 2023-11-14T22:13:20Z: the 14th or 15th in every time zone.
        assert_eq!((t.year, t.month), (2023, 11));
        assert!((14..=15).contains(&t.day), "{t:?}");
        assert!(t.hour < 24 && t.minute < 60 && t.second <= 60, "{t:?}");
        assert_eq!(t.second, 20, "no zone is offset by a fraction of a minute");
    }
}
