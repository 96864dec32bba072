//! The time and duration texts nats-server's monitoring shows: RFC 3339
//! times with nanoseconds in UTC, Go's `time.Duration` strings, the
//! server's own uptime format, and the HTTP `Date` header.
//!
//! All of them are pure functions of what the caller gives: Unix time as a
//! `Duration` since 1970-01-01 UTC, or a duration; nothing here reads a
//! clock.

use std::fmt::Write;
use std::time::{Duration, Instant};

/// The Unix time of `t`, given that `now` is `unix`: the core sees only
/// `Instant`s, the runtime hands in one `(now, unix)` pair per request.
pub fn wall_of(t: Instant, now: Instant, unix: Duration) -> Duration {
    match now.checked_duration_since(t) {
        Some(ago) => unix.saturating_sub(ago),
        None => unix + t.duration_since(now),
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (H. Hinnant's algorithm). Also used by the host's log timestamps.
pub fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Go's `time.RFC3339Nano` in UTC: `2026-11-26T02:37:55.2600243Z`, the
/// fraction without trailing zeros and left out when zero.
pub fn rfc3339_nanos(unix: Duration) -> String {
    let (secs, nanos) = (unix.as_secs(), unix.subsec_nanos());
    let (y, mo, d) = civil((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let mut s = format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// The HTTP `Date` header value: `Thu, 26 Nov 2026 04:18:07 GMT`.
pub fn http_date(unix: Duration) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = unix.as_secs();
    let days = secs / 86_400;
    let (y, mo, d) = civil(days as i64);
    let rem = secs % 86_400;
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(mo - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `int.frac` with `digits` fraction digits, trailing zeros dropped.
fn push_fraction(out: &mut String, v: u128, digits: u32) {
    let unit = 10u128.pow(digits);
    let (int, frac) = (v / unit, v % unit);
    let _ = write!(out, "{int}");
    if frac > 0 {
        let f = format!("{frac:0width$}", width = digits as usize);
        out.push('.');
        out.push_str(f.trim_end_matches('0'));
    }
}

/// Go's `time.Duration.String()`: `0s`, `500ns`, `162µs`, `100.679191ms`,
/// `1.5s`, `1m2.5s`, `2h0m0s`.
pub fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    let mut out = String::new();
    if ns == 0 {
        out.push_str("0s");
    } else if ns < 1_000 {
        let _ = write!(out, "{ns}ns");
    } else if ns < 1_000_000 {
        push_fraction(&mut out, ns, 3);
        out.push_str("µs");
    } else if ns < 1_000_000_000 {
        push_fraction(&mut out, ns, 6);
        out.push_str("ms");
    } else {
        let (h, m) = (ns / 3_600_000_000_000, ns / 60_000_000_000 % 60);
        if h > 0 {
            let _ = write!(out, "{h}h{m}m");
        } else if m > 0 {
            let _ = write!(out, "{m}m");
        }
        push_fraction(&mut out, ns % 60_000_000_000, 9);
        out.push('s');
    }
    out
}

/// nats-server's uptime format, whole seconds: `0s`, `1m5s`, `3h0m0s`,
/// `2d3h0m1s`, `1y2d0h0m0s`.
pub fn uptime(d: Duration) -> String {
    let secs = d.as_secs();
    let (mins, hours) = (secs / 60, secs / 3600);
    let (days, years) = (hours / 24, hours / 24 / 365);
    let (s, m, h) = (secs % 60, mins % 60, hours % 24);
    if years > 0 {
        format!("{years}y{}d{h}h{m}m{s}s", days % 365)
    } else if days > 0 {
        format!("{days}d{h}h{m}m{s}s")
    } else if hours > 0 {
        format!("{hours}h{m}m{s}s")
    } else if mins > 0 {
        format!("{mins}m{s}s")
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // host-side code: tests read the clock
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn go_durations() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(1), "1ns"),
            (Duration::from_nanos(999), "999ns"),
            (Duration::from_nanos(1_500), "1.5µs"),
            (Duration::from_micros(162), "162µs"),
            (Duration::from_nanos(100_679_191), "100.679191ms"),
            (ms(1), "1ms"),
            (ms(1_500), "1.5s"),
            (ms(62_500), "1m2.5s"),
            (Duration::from_secs(7200), "2h0m0s"),
            (Duration::from_nanos(3_723_000_000_001), "1h2m3.000000001s"),
            (Duration::from_secs(60), "1m0s"),
            (Duration::from_secs(100 * 3600), "100h0m0s"),
        ];
        for (d, want) in cases {
            assert_eq!(go_duration(d), want, "{d:?}");
        }
    }

    #[test]
    fn uptimes() {
        let s = Duration::from_secs;
        assert_eq!(uptime(Duration::ZERO), "0s");
        assert_eq!(uptime(ms(999)), "0s");
        assert_eq!(uptime(s(59)), "59s");
        assert_eq!(uptime(s(65)), "1m5s");
        assert_eq!(uptime(s(3 * 3600)), "3h0m0s");
        assert_eq!(uptime(s(2 * 86_400 + 3 * 3600 + 1)), "2d3h0m1s");
        assert_eq!(uptime(s(367 * 86_400)), "1y2d0h0m0s");
    }

    #[test]
    fn rfc3339() {
        let t = Duration::new;
        assert_eq!(rfc3339_nanos(t(0, 0)), "1970-01-01T00:00:00Z");
        // 2026-11-26T02:37:55 UTC.
        let base = 1_795_660_675;
        assert_eq!(
            rfc3339_nanos(t(base, 260_024_300)),
            "2026-11-26T02:37:55.2600243Z"
        );
        assert_eq!(
            rfc3339_nanos(t(base, 897_494_422)),
            "2026-11-26T02:37:55.897494422Z"
        );
        assert_eq!(rfc3339_nanos(t(base, 1)), "2026-11-26T02:37:55.000000001Z");
        assert_eq!(
            rfc3339_nanos(t(base, 500_000_000)),
            "2026-11-26T02:37:55.5Z"
        );
        assert_eq!(rfc3339_nanos(t(951_782_400, 0)), "2000-02-29T00:00:00Z");
        assert_eq!(http_date(t(base, 5)), "Thu, 26 Nov 2026 02:37:55 GMT");
        assert_eq!(http_date(t(0, 0)), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn wall_clock_of_instants() {
        let now = Instant::now();
        let wall = Duration::from_secs(1000);
        assert_eq!(wall_of(now, now, wall), wall);
        let past = now.checked_sub(Duration::from_secs(10)).unwrap();
        assert_eq!(wall_of(past, now, wall), Duration::from_secs(990));
        assert_eq!(wall_of(now, past, wall), Duration::from_secs(1010));
    }
}
