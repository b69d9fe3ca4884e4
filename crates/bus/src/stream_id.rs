//! Stream entry ids, `<millis>-<seq>` as Redis writes them, compared as number pairs.

use model::ErrorCode;

use crate::BusError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct StreamId {
    pub(crate) millis: u64,
    pub(crate) seq: u64,
}

impl StreamId {
    /// Parses `<millis>-<seq>` or `<millis>` (as Redis accepts it).
    pub(crate) fn parse(text: &str) -> Result<Self, BusError> {
        let invalid = || BusError::Rejected {
            code: ErrorCode::BadRequest,
            message: format!("invalid event id '{text}'"),
        };
        let (millis, seq) = match text.split_once('-') {
            Some((millis, seq)) => (millis, seq),
            None => (text, "0"),
        };
        Ok(Self {
            millis: millis.parse().map_err(|_| invalid())?,
            seq: seq.parse().map_err(|_| invalid())?,
        })
    }

    /// The id after `last` for an entry added at `now_millis` (never going backwards).
    pub(crate) fn next(last: Self, now_millis: u64) -> Self {
        if now_millis > last.millis {
            Self {
                millis: now_millis,
                seq: 0,
            }
        } else {
            Self {
                millis: last.millis,
                seq: last.seq + 1,
            }
        }
    }
}

impl StreamId {
    /// When the entry was added: the millisecond part of its id.
    pub(crate) fn time(self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::from_timestamp_millis(i64::try_from(self.millis).ok()?)
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.millis, self.seq)
    }
}

pub(crate) fn now_millis() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_compare_as_numbers_not_text() {
        let small = StreamId::parse("999-5").unwrap();
        let large = StreamId::parse("1000-0").unwrap();
        assert!(small < large);
        assert_eq!(
            StreamId::parse("7").unwrap(),
            StreamId { millis: 7, seq: 0 }
        );
        assert!(StreamId::parse("x-1").is_err());
    }

    #[test]
    fn next_never_goes_backwards() {
        let last = StreamId { millis: 10, seq: 3 };
        assert_eq!(StreamId::next(last, 5), StreamId { millis: 10, seq: 4 });
        assert_eq!(StreamId::next(last, 11), StreamId { millis: 11, seq: 0 });
    }
}
