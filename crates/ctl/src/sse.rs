//! Server-sent events, parsed by hand from the response body's chunks (the format is a few
//! lines of text: `id:`, `event:`, `data:`, comments, a blank line ending each event).

use reqwest::Response;

use crate::error::{CtlError, Result};

/// One event off the stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

/// Turns bytes into events; bytes may arrive split anywhere, lines end in LF, CRLF or CR.
#[derive(Debug, Default)]
pub(crate) struct Parser {
    buffer: Vec<u8>,
    current: SseEvent,
    has_data: bool,
    /// A CR ended the last chunk: an LF that starts the next belongs to it.
    after_cr: bool,
}

impl Parser {
    /// Feeds a chunk; answers the events it completed.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &byte in chunk {
            if std::mem::take(&mut self.after_cr) && byte == b'\n' {
                continue;
            }
            match byte {
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.buffer);
                    if let Some(event) = self.line(&String::from_utf8_lossy(&line)) {
                        events.push(event);
                    }
                }
                _ => self.buffer.push(byte),
            }
        }
        events
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            let event = std::mem::take(&mut self.current);
            return std::mem::take(&mut self.has_data).then_some(event);
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "id" => self.current.id = Some(value.to_owned()),
            "event" => self.current.event = Some(value.to_owned()),
            "data" => {
                if self.has_data {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(value);
                self.has_data = true;
            }
            _ => {}
        }
        None
    }
}

/// An open event stream.
#[derive(Debug)]
pub(crate) struct EventStream {
    response: Response,
    parser: Parser,
    pending: std::collections::VecDeque<SseEvent>,
    /// The id of the last event read, to resume from after a reconnect.
    pub last_id: Option<String>,
}

impl EventStream {
    pub(crate) fn new(response: Response) -> Self {
        Self {
            response,
            parser: Parser::default(),
            pending: Default::default(),
            last_id: None,
        }
    }

    /// The next event; `None` when the server ended the stream.
    pub(crate) async fn next(&mut self) -> Result<Option<SseEvent>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                if event.id.is_some() {
                    self.last_id.clone_from(&event.id);
                }
                return Ok(Some(event));
            }
            let chunk = self
                .response
                .chunk()
                .await
                .map_err(|e| CtlError::Transport {
                    url: self.response.url().to_string(),
                    reason: format!("the event stream broke: {e}"),
                })?;
            match chunk {
                Some(bytes) => self.pending.extend(self.parser.feed(&bytes)),
                None => return Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_anywhere_come_out_whole() {
        let text = ": keep-alive\n\nid: 1-0\nevent: step.completed\ndata: {\"a\":\ndata: 1}\n\nid: 2-0\r\nevent: x\r\ndata:y\r\n\r\n";
        for split in 0..text.len() {
            let mut parser = Parser::default();
            let mut events = parser.feed(&text.as_bytes()[..split]);
            events.extend(parser.feed(&text.as_bytes()[split..]));
            assert_eq!(
                events,
                vec![
                    SseEvent {
                        id: Some("1-0".into()),
                        event: Some("step.completed".into()),
                        data: "{\"a\":\n1}".into()
                    },
                    SseEvent {
                        id: Some("2-0".into()),
                        event: Some("x".into()),
                        data: "y".into()
                    },
                ],
                "split at {split}"
            );
        }
    }

    #[test]
    fn an_unfinished_event_waits_for_its_blank_line() {
        let mut parser = Parser::default();
        assert!(parser.feed(b"id: 1\ndata: x\n").is_empty());
        assert_eq!(parser.feed(b"\n").len(), 1);
    }
}
