//! The size of a value as JSON, measured without building the text: the limits on
//! definitions, renders, outputs and variables all use it.

/// Whether `value` as JSON takes at most `limit` bytes, found without building the text.
pub(crate) fn json_fits(value: &impl serde::Serialize, limit: usize) -> bool {
    struct Count {
        left: usize,
    }
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.left = self
                .left
                .checked_sub(buf.len())
                .ok_or_else(|| std::io::Error::other("over the limit"))?;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(Count { left: limit }, value).is_ok()
}
