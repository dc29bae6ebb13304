//! The vocabulary of request wire schemas (versions, Kafka field types, fields, structs) and the
//! reasons a frame is refused. `walk.rs` checks frames against schemas; `schemas/` holds them.

use std::mem::size_of;

use bytes::Bytes;
use kafka_protocol::protocol::StrBytes;

/// An inclusive range of versions; `since(n)` is Kafka's `"n+"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Versions {
    pub min: i16,
    pub max: i16,
}

impl Versions {
    pub const fn contains(self, version: i16) -> bool {
        self.min <= version && version <= self.max
    }
}

pub(crate) const fn since(min: i16) -> Versions {
    Versions { min, max: i16::MAX }
}

pub(crate) const fn range(min: i16, max: i16) -> Versions {
    Versions { min, max }
}

pub(crate) const NEVER: Versions = Versions { min: 1, max: 0 };

/// Kafka's field types (the whole set: the schemas of APIs still to come use the rest).
#[derive(Debug)]
#[allow(dead_code)]
pub(crate) enum Ty {
    Bool,
    Int8,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    Float64,
    Uuid,
    String,
    Bytes,
    Records,
    /// `[]T`: the decoder allocates `count * size_of::<T>()` up front.
    Array(&'static Ty),
    Struct(&'static Struct),
}

/// One field of a schema, transcribed from Kafka's JSON message definitions.
#[derive(Debug)]
pub(crate) struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub versions: Versions,
    pub nullable: Versions,
    /// `Some(tag)`: sent in the tagged-field section, never inline.
    pub tag: Option<u32>,
    /// Kafka's `"flexibleVersions": "none"`: classic encoding even in flexible versions.
    pub classic: bool,
}

impl Field {
    pub const fn new(name: &'static str, ty: Ty, versions: Versions) -> Field {
        Field {
            name,
            ty,
            versions,
            nullable: NEVER,
            tag: None,
            classic: false,
        }
    }
    pub const fn nullable(mut self, versions: Versions) -> Field {
        self.nullable = versions;
        self
    }
    #[allow(dead_code)] // for requests with known tagged fields (Fetch, ...)
    pub const fn tagged(mut self, tag: u32) -> Field {
        self.tag = Some(tag);
        self
    }
    pub const fn classic(mut self) -> Field {
        self.classic = true;
        self
    }
}

/// A struct of fields; `decoded_bytes` is `size_of` the Rust type `kafka-protocol` decodes it into
/// (what one array element costs).
#[derive(Debug)]
pub(crate) struct Struct {
    pub name: &'static str,
    pub fields: &'static [Field],
    pub decoded_bytes: usize,
}

/// A request body (or the request header): its struct and the versions that use compact encodings
/// and tagged fields.
#[derive(Debug)]
pub(crate) struct MessageSchema {
    pub body: Struct,
    pub flexible: Versions,
}

/// What one unknown tagged field costs once decoded: a `BTreeMap<i32, Bytes>` entry plus its share
/// of node overhead. tests/decode_memory.rs measures about 70 bytes; this leaves room for half-full
/// nodes.
pub(crate) const TAGGED_FIELD_DECODED_BYTES: usize = 128;

/// What the first unknown tagged field of a struct costs on top: its map's first node, a B-tree
/// leaf of 11 `(i32, Bytes)` slots and a small header (408 bytes on 64-bit targets). Without it a
/// frame with one empty unknown tag in each of many small structs would cost about three times its
/// estimate; `schemas/tests.rs` measures samples and mutated samples against the estimate.
pub(crate) const TAGGED_MAP_NODE_BYTES: usize = 11 * (size_of::<i32>() + size_of::<Bytes>()) + 16;

/// Why a frame was refused before decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoundsError {
    #[error("{what}: needs {need} bytes at byte {at}, only {left} left")]
    Truncated {
        what: &'static str,
        at: usize,
        need: u64,
        left: usize,
    },
    #[error("{what}: {count} elements of at least {min_each} bytes cannot fit in {left} bytes")]
    CountTooLarge {
        what: &'static str,
        count: u64,
        min_each: usize,
        left: usize,
    },
    #[error("{what}: length {len} is negative")]
    NegativeLength { what: &'static str, len: i64 },
    #[error("{what}: null where the schema does not allow it")]
    UnexpectedNull { what: &'static str },
    #[error("{what}: not valid UTF-8")]
    InvalidUtf8 { what: &'static str },
    #[error("{what}: malformed varint at byte {at}")]
    BadVarint { what: &'static str, at: usize },
    #[error("{what}: tagged field {tag} is not valid in version {version}")]
    BadTag {
        what: &'static str,
        tag: u32,
        version: i16,
    },
    #[error("{what}: tagged field {tag} declares {declared} bytes but holds {actual}")]
    TagSizeMismatch {
        what: &'static str,
        tag: u32,
        declared: usize,
        actual: usize,
    },
    #[error("decoding would allocate over {budget} bytes (the budget for this frame)")]
    OverBudget { budget: usize },
}

/// Wire width of fixed-size types; 0 for the variable-size ones.
pub(crate) fn fixed_width(ty: &Ty) -> usize {
    match ty {
        Ty::Bool | Ty::Int8 => 1,
        Ty::Int16 | Ty::UInt16 => 2,
        Ty::Int32 | Ty::UInt32 => 4,
        Ty::Int64 | Ty::Float64 => 8,
        Ty::Uuid => 16,
        Ty::String | Ty::Bytes | Ty::Records | Ty::Array(_) | Ty::Struct(_) => 0,
    }
}

/// Bytes one decoded element of `ty` takes inside a `Vec`.
pub(crate) fn decoded_width(ty: &Ty) -> usize {
    match ty {
        Ty::Struct(s) => s.decoded_bytes,
        Ty::String => size_of::<StrBytes>(),
        Ty::Bytes | Ty::Records => size_of::<Option<Bytes>>(),
        Ty::Array(_) => size_of::<Vec<u8>>(),
        Ty::Uuid => 16,
        fixed => fixed_width(fixed),
    }
}
