//! Syslog messages: RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG`) and the
//! BSD format of RFC 3164 (`<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG`), as real senders
//! write them (rsyslog, syslog-ng, util-linux `logger`, network gear). Parsing never
//! allocates per byte and never fails on the message text: what cannot be read as a
//! header is kept as the message.

use crate::timestamp::{civil_to_ns, parse_rfc3339, year_of_ms};

/// Which syslog format a listener expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// RFC 5424 when the header says version 1, else RFC 3164.
    #[default]
    Auto,
    Rfc5424,
    Rfc3164,
}

/// One parsed message; the strings borrow from the frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Message<'a> {
    pub facility: u8,
    pub severity: u8,
    /// From the header, if it had a readable one (ns since the epoch).
    pub ts_ns: Option<i64>,
    pub hostname: Option<&'a str>,
    pub app: Option<&'a str>,
    pub procid: Option<&'a str>,
    pub msgid: Option<&'a str>,
    /// Structured data as (`<SD-ID>_<PARAM>`, value) pairs, values unescaped.
    pub structured_data: Vec<(String, String)>,
    pub msg: &'a str,
}

pub const FACILITIES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

pub const SEVERITIES: [&str; 8] = [
    "emergency",
    "alert",
    "critical",
    "error",
    "warning",
    "notice",
    "informational",
    "debug",
];

/// The level a severity is, in Loki's `detected_level` words.
pub fn level(severity: u8) -> &'static str {
    match severity {
        0..=2 => "critical",
        3 => "error",
        4 => "warn",
        5 | 6 => "info",
        _ => "debug",
    }
}

fn nil(s: &str) -> Option<&str> {
    (s != "-" && !s.is_empty()).then_some(s)
}

/// The next space-separated token and the rest after one space.
fn token(s: &str) -> Option<(&str, &str)> {
    let (t, rest) = s.split_once(' ').unwrap_or((s, ""));
    (!t.is_empty()).then_some((t, rest))
}

/// Parses one frame (no trailing newline). `now_ms` dates RFC 3164's year-less stamps.
pub fn parse(frame: &str, format: Format, now_ms: i64) -> Message<'_> {
    let (pri, rest) = match pri(frame) {
        Some((p, rest)) => (p, rest),
        // No PRI: RFC 3164 §4.3.3 has a relay treat it as user.notice, message as is.
        None => (13, frame),
    };
    let mut m = Message {
        facility: pri / 8,
        severity: pri % 8,
        ts_ns: None,
        hostname: None,
        app: None,
        procid: None,
        msgid: None,
        structured_data: Vec::new(),
        msg: rest,
    };
    let is_5424 = match format {
        Format::Rfc5424 => true,
        Format::Rfc3164 => false,
        Format::Auto => rest.starts_with("1 "),
    };
    if is_5424 {
        if !rfc5424(rest, &mut m) {
            m.msg = rest;
        }
    } else {
        rfc3164(rest, now_ms, &mut m);
    }
    m
}

fn pri(s: &str) -> Option<(u8, &str)> {
    let rest = s.strip_prefix('<')?;
    let end = rest.find('>')?;
    if end == 0 || end > 3 || !rest[..end].bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let p: u8 = rest[..end].parse().ok()?;
    (p <= 191).then_some((p, &rest[end + 1..]))
}

/// Fills `m` from an RFC 5424 header; false when the header is not one.
fn rfc5424<'a>(s: &'a str, m: &mut Message<'a>) -> bool {
    let Some((version, s)) = token(s) else {
        return false;
    };
    if version.is_empty() || version.len() > 2 || !version.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Some((ts, s)) = token(s) else {
        return false;
    };
    let Some((host, s)) = token(s) else {
        return false;
    };
    let Some((app, s)) = token(s) else {
        return false;
    };
    let Some((procid, s)) = token(s) else {
        return false;
    };
    let Some((msgid, s)) = token(s) else {
        return false;
    };
    m.ts_ns = nil(ts).and_then(parse_rfc3339);
    m.hostname = nil(host);
    m.app = nil(app);
    m.procid = nil(procid);
    m.msgid = nil(msgid);
    let rest = if let Some(r) = s.strip_prefix('-') {
        r
    } else if s.starts_with('[') {
        match structured_data(s, &mut m.structured_data) {
            Some(r) => r,
            None => {
                // Unreadable structured data: keep it in the message rather than lose it.
                m.structured_data.clear();
                s
            }
        }
    } else {
        s
    };
    let msg = rest.strip_prefix(' ').unwrap_or(rest);
    m.msg = msg.strip_prefix('\u{feff}').unwrap_or(msg);
    true
}

/// Reads `[id k="v" …][…]`; returns what follows.
fn structured_data<'a>(mut s: &'a str, out: &mut Vec<(String, String)>) -> Option<&'a str> {
    while let Some(r) = s.strip_prefix('[') {
        let end = r.find([' ', ']'])?;
        let id = &r[..end];
        if id.is_empty() {
            return None;
        }
        let id = crate::otlp::logs::label_name(id);
        let mut r = &r[end..];
        loop {
            if let Some(after) = r.strip_prefix(']') {
                s = after;
                break;
            }
            r = r.strip_prefix(' ')?;
            let eq = r.find('=')?;
            let name = &r[..eq];
            if name.is_empty() || name.contains([' ', ']', '"']) {
                return None;
            }
            r = r[eq + 1..].strip_prefix('"')?;
            let mut value = String::new();
            let mut chars = r.char_indices();
            let close = loop {
                let (i, c) = chars.next()?;
                match c {
                    '"' => break i,
                    '\\' => match chars.next()? {
                        (_, c @ ('"' | '\\' | ']')) => value.push(c),
                        (_, c) => {
                            value.push('\\');
                            value.push(c);
                        }
                    },
                    c => value.push(c),
                }
            };
            out.push((
                format!("{id}_{}", crate::otlp::logs::label_name(name)),
                value,
            ));
            r = &r[close + 1..];
        }
    }
    Some(s)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Mmm dd hh:mm:ss` (day space- or zero-padded), dated in the year that puts it closest
/// before `now_ms` (a December message read in January is last year's).
fn bsd_timestamp(s: &str, now_ms: i64) -> Option<(i64, &str)> {
    let b = s.as_bytes();
    if b.len() < 15 || b[3] != b' ' || b[6] != b' ' || b[9] != b':' || b[12] != b':' {
        return None;
    }
    let month = MONTHS.iter().position(|m| m.as_bytes() == &b[..3])? as u32 + 1;
    let day: u32 = s.get(4..6)?.trim_start().parse().ok()?;
    let h: u32 = s.get(7..9)?.parse().ok()?;
    let mi: u32 = s.get(10..12)?.parse().ok()?;
    let sec: u32 = s.get(13..15)?.parse().ok()?;
    let year = year_of_ms(now_ms);
    let mut ts = civil_to_ns(year, month, day, h, mi, sec, 0)?;
    // More than a day ahead of the clock: the message is from last year.
    if ts
        > now_ms
            .saturating_mul(1_000_000)
            .saturating_add(86_400_000_000_000)
    {
        ts = civil_to_ns(year - 1, month, day, h, mi, sec, 0)?;
    }
    let rest = &s[15..];
    Some((ts, rest.strip_prefix(' ').unwrap_or(rest)))
}

/// Whether `t` reads as a `TAG[PID]:` or `TAG:` (so it is not a hostname).
fn is_tag(t: &str) -> bool {
    t.ends_with(':') || (t.contains('[') && t.ends_with("]:"))
}

fn rfc3164<'a>(s: &'a str, now_ms: i64, m: &mut Message<'a>) {
    let mut rest = s;
    if let Some((ts, r)) = bsd_timestamp(rest, now_ms) {
        m.ts_ns = Some(ts);
        rest = r;
    } else if let Some((t, r)) = token(rest) {
        // rsyslog's high-precision form puts an RFC 3339 stamp here.
        if let Some(ts) = parse_rfc3339(t) {
            m.ts_ns = Some(ts);
            rest = r;
        }
    }
    if m.ts_ns.is_some() {
        if let Some((host, r)) = token(rest) {
            if !is_tag(host) && !r.is_empty() {
                m.hostname = Some(host);
                rest = r;
            }
        }
    }
    // TAG: up to 48 characters of [A-Za-z0-9._/-], then [PID] and/or ':'.
    let tag_end = rest
        .bytes()
        .take(48)
        .position(|b| !(b.is_ascii_alphanumeric() || b"._-/".contains(&b)))
        .unwrap_or(rest.len().min(48));
    let (tag, after) = rest.split_at(tag_end);
    if !tag.is_empty() {
        let (pid, after) = match after.strip_prefix('[').and_then(|a| a.split_once(']')) {
            Some((pid, a)) if !pid.contains(' ') => (Some(pid), a),
            _ => (None, after),
        };
        if let Some(msg) = after.strip_prefix(':') {
            m.app = Some(tag);
            m.procid = pid.filter(|p| !p.is_empty());
            rest = msg.strip_prefix(' ').unwrap_or(msg);
        }
    }
    m.msg = rest;
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_065_910_455_000; // 2003-10-11T22:14:15Z

    #[test]
    fn rfc5424_examples() {
        let m = parse(
            "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \u{feff}'su root' failed for lonvick on /dev/pts/8",
            Format::Auto,
            NOW,
        );
        assert_eq!((m.facility, m.severity), (4, 2));
        assert_eq!(m.ts_ns, Some(1_065_910_455_003_000_000));
        assert_eq!(m.hostname, Some("mymachine.example.com"));
        assert_eq!(m.app, Some("su"));
        assert_eq!(m.procid, None);
        assert_eq!(m.msgid, Some("ID47"));
        assert_eq!(m.msg, "'su root' failed for lonvick on /dev/pts/8");

        let m = parse(
            r#"<165>1 2003-10-11T22:14:15.003Z host evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Appl\"ication" eventID="1011"][examplePriority@32473 class="high"] An application event"#,
            Format::Rfc5424,
            NOW,
        );
        assert_eq!(m.facility, 20);
        assert_eq!(
            m.structured_data,
            vec![
                ("exampleSDID_32473_iut".to_string(), "3".to_string()),
                (
                    "exampleSDID_32473_eventSource".into(),
                    "Appl\"ication".into()
                ),
                ("exampleSDID_32473_eventID".into(), "1011".into()),
                ("examplePriority_32473_class".into(), "high".into()),
            ]
        );
        assert_eq!(m.msg, "An application event");

        let m = parse("<13>1 - - - - - [x a=\"1\"]", Format::Auto, NOW);
        assert_eq!((m.ts_ns, m.hostname, m.msg), (None, None, ""));
        assert_eq!(m.structured_data.len(), 1);
    }

    #[test]
    fn rfc3164_examples() {
        let m = parse(
            "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
            Format::Auto,
            NOW,
        );
        assert_eq!(m.ts_ns, Some(1_065_910_455_000_000_000));
        assert_eq!((m.hostname, m.app), (Some("mymachine"), Some("su")));
        assert_eq!(m.msg, "'su root' failed for lonvick on /dev/pts/8");

        let m = parse(
            "<13>Dec  4 18:33:56 host1 root[123]: hello world",
            Format::Rfc3164,
            NOW,
        );
        assert_eq!(
            (m.hostname, m.app, m.procid),
            (Some("host1"), Some("root"), Some("123"))
        );
        assert_eq!(m.msg, "hello world");
        // December read in October: last year's.
        assert_eq!(
            crate::timestamp::year_of_ms(m.ts_ns.unwrap() / 1_000_000),
            2002
        );

        let m = parse("<13>Oct 11 22:14:15 sshd[9]: no host", Format::Auto, NOW);
        assert_eq!((m.hostname, m.app, m.msg), (None, Some("sshd"), "no host"));

        let m = parse("just text", Format::Auto, NOW);
        assert_eq!((m.facility, m.severity, m.msg), (1, 5, "just text"));
        assert_eq!(m.ts_ns, None);

        let m = parse("<13>2003-10-11T22:14:15Z host app: hi", Format::Auto, NOW);
        assert_eq!(
            (m.hostname, m.app, m.msg),
            (Some("host"), Some("app"), "hi")
        );
    }

    #[test]
    fn broken_headers_keep_the_text() {
        for s in [
            "<999>x",
            "<>x",
            "<1",
            "<13>1 ",
            "<13>1 2003 h",
            "<13>1 - h a p m [bad",
            "<13>Oct 99 99:99:99 x",
        ] {
            let m = parse(s, Format::Auto, NOW);
            assert!(!m.msg.is_empty() || s.ends_with(' '), "{s:?} {m:?}");
        }
        let m = parse("<13>1 - h a p m [x a=\"1] rest", Format::Auto, NOW);
        assert!(m.structured_data.is_empty());
        assert!(m.msg.contains("rest"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,80}", f in 0..3u8) {
            let format = [Format::Auto, Format::Rfc5424, Format::Rfc3164][f as usize];
            let _ = parse(&s, format, NOW);
            let _ = parse(&format!("<13>1 {s}"), format, NOW);
            let _ = parse(&format!("<13>Oct 11 22:14:15 {s}"), format, NOW);
        }
    }
}
