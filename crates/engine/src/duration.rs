//! Durations as users write them: `"90s"`, `"5m"`, `"2h"`, `"1d"`, combinations (`"1h30m"`),
//! `"500ms"`, plain numbers of seconds, or ISO 8601 (`"PT1M30S"`, `"P1DT2H"`).

/// Parses a duration into seconds. `None` when it does not parse or is negative.
pub(crate) fn parse_duration(text: &str) -> Option<f64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then_some(seconds);
    }
    if let Some(rest) = text.strip_prefix('P').or_else(|| text.strip_prefix('p')) {
        return parse_iso(rest);
    }
    parse_units(text)
}

fn parse_units(text: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = rest[..unit_len].trim();
        rest = &rest[unit_len..];
        let factor = match unit {
            "ms" => 0.001,
            "s" | "sec" | "secs" => 1.0,
            "m" | "min" | "mins" => 60.0,
            "h" | "hr" | "hrs" => 3600.0,
            "d" => 86_400.0,
            "w" => 604_800.0,
            _ => return None,
        };
        total += number * factor;
    }
    total.is_finite().then_some(total)
}

fn parse_iso(text: &str) -> Option<f64> {
    let (date, time) = match text.split_once(['T', 't']) {
        Some((date, time)) => {
            if time.is_empty() {
                return None;
            }
            (date, Some(time))
        }
        None => (text, None),
    };
    if date.is_empty() && time.is_none() {
        return None;
    }
    let mut total = iso_part(date, &[('W', 604_800.0), ('D', 86_400.0)])?;
    if let Some(time) = time {
        total += iso_part(time, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)])?;
    }
    total.is_finite().then_some(total)
}

fn iso_part(text: &str, units: &[(char, f64)]) -> Option<f64> {
    let mut total = 0.0;
    let mut rest = text;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let end = rest.find(|c: char| c.is_ascii_alphabetic())?;
        let number: f64 = rest[..end].replace(',', ".").parse().ok()?;
        if number < 0.0 || end == 0 {
            return None;
        }
        let unit = rest[end..].chars().next()?.to_ascii_uppercase();
        let position = units[next_unit..].iter().position(|(u, _)| *u == unit)?;
        total += number * units[next_unit + position].1;
        next_unit += position + 1;
        rest = &rest[end + 1..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn short_forms_iso_and_numbers_parse() {
        assert_eq!(parse_duration("90s"), Some(90.0));
        assert_eq!(parse_duration("5m"), Some(300.0));
        assert_eq!(parse_duration("2h"), Some(7200.0));
        assert_eq!(parse_duration("1d"), Some(86_400.0));
        assert_eq!(parse_duration("1h30m"), Some(5400.0));
        assert_eq!(parse_duration("500ms"), Some(0.5));
        assert_eq!(parse_duration("PT1M30S"), Some(90.0));
        assert_eq!(parse_duration("P1DT2H"), Some(93_600.0));
        assert_eq!(parse_duration("PT0.5S"), Some(0.5));
        assert_eq!(parse_duration("12"), Some(12.0));
    }

    #[test]
    fn garbage_does_not_parse() {
        for bad in [
            "", "abc", "5x", "P", "PT", "-5", "PT1S1M", "m5", "1..2s", "P1H",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
