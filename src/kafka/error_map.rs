//! Domain problems -> Kafka error codes. The only module that picks a code.
//! Exhaustive on purpose: a new variant must not compile until someone decides what a client sees.
//! Handlers name a meaning (`Refusal`, and the partition/storage errors as they land), never a number.

use kafka_protocol::ResponseError;

/// Requests the frontend itself turns down, before any partition is involved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A version newer than served (answered only for ApiVersions; other APIs close the connection).
    UnsupportedVersion,
    /// Well-formed on the wire but not acceptable (e.g. a malformed client software name).
    InvalidRequest,
}

pub(crate) fn refusal(r: Refusal) -> ResponseError {
    match r {
        Refusal::UnsupportedVersion => ResponseError::UnsupportedVersion,
        Refusal::InvalidRequest => ResponseError::InvalidRequest,
    }
}

pub(crate) fn refusal_code(r: Refusal) -> i16 {
    refusal(r).code()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_kafkas() {
        assert_eq!(refusal_code(Refusal::UnsupportedVersion), 35);
        assert_eq!(refusal_code(Refusal::InvalidRequest), 42);
    }
}
