//! Request wire schemas and the walker that checks a frame against one before `kafka-protocol`
//! decodes it: counts and lengths fit the bytes left, strings are UTF-8, and the memory the decoder
//! will allocate is summed and capped. The schemas themselves live in `schemas.rs`.

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

/// Walks `schema` at `version` over `buf[*pos..]`, advancing `pos`. `decoded` accumulates the
/// estimated allocation of decoding and must stay within `budget`.
pub(crate) fn walk(
    schema: &MessageSchema,
    version: i16,
    buf: &[u8],
    pos: &mut usize,
    decoded: &mut usize,
    budget: usize,
) -> Result<(), BoundsError> {
    let mut walker = Walker {
        buf,
        pos: *pos,
        version,
        flexible: schema.flexible.contains(version),
        decoded: *decoded,
        budget,
    };
    walker.walk_struct(&schema.body)?;
    *pos = walker.pos;
    *decoded = walker.decoded;
    Ok(())
}

struct Walker<'a> {
    buf: &'a [u8],
    pos: usize,
    version: i16,
    flexible: bool,
    decoded: usize,
    budget: usize,
}

impl Walker<'_> {
    fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, what: &'static str, n: u64) -> Result<&[u8], BoundsError> {
        let left = self.left();
        if n > left as u64 {
            return Err(BoundsError::Truncated {
                what,
                at: self.pos,
                need: n,
                left,
            });
        }
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.buf[start..self.pos])
    }

    fn int(&mut self, what: &'static str, n: usize) -> Result<i64, BoundsError> {
        let bytes = self.take(what, n as u64)?;
        Ok(bytes.iter().fold(0i64, |acc, b| (acc << 8) | i64::from(*b)))
    }

    /// Unsigned varint of at most 5 bytes (a u32), as the decoder reads it.
    fn varint(&mut self, what: &'static str) -> Result<u64, BoundsError> {
        let at = self.pos;
        let mut value = 0u64;
        for i in 0..5 {
            let b = self.take(what, 1)?[0];
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return if value > u64::from(u32::MAX) {
                    Err(BoundsError::BadVarint { what, at })
                } else {
                    Ok(value)
                };
            }
        }
        Err(BoundsError::BadVarint { what, at })
    }

    fn charge(&mut self, bytes: u64) -> Result<(), BoundsError> {
        self.decoded = self
            .decoded
            .saturating_add(bytes.try_into().unwrap_or(usize::MAX));
        if self.decoded > self.budget {
            return Err(BoundsError::OverBudget {
                budget: self.budget,
            });
        }
        Ok(())
    }

    /// A length prefix: `None` for null. Compact form is `len + 1` as a varint (0 = null).
    fn length(
        &mut self,
        what: &'static str,
        compact: bool,
        classic_width: usize,
    ) -> Result<Option<u64>, BoundsError> {
        if compact {
            return Ok(self.varint(what)?.checked_sub(1));
        }
        match self.int(what, classic_width)? {
            raw if classic_width == 2 => sign(what, i64::from(raw as u16 as i16)),
            raw => sign(what, i64::from(raw as u32 as i32)),
        }
    }

    fn walk_struct(&mut self, s: &Struct) -> Result<(), BoundsError> {
        for f in s.fields {
            if f.versions.contains(self.version) && f.tag.is_none() {
                self.walk_field(f)?;
            }
        }
        if self.flexible {
            self.walk_tagged(s)?;
        }
        Ok(())
    }

    fn walk_field(&mut self, f: &Field) -> Result<(), BoundsError> {
        let compact = self.flexible && !f.classic;
        self.walk_ty(&f.ty, f.name, f.nullable.contains(self.version), compact)
    }

    fn walk_ty(
        &mut self,
        ty: &Ty,
        what: &'static str,
        nullable: bool,
        compact: bool,
    ) -> Result<(), BoundsError> {
        let fixed = fixed_width(ty);
        if fixed > 0 {
            self.take(what, fixed as u64)?;
            return Ok(());
        }
        let width = if matches!(ty, Ty::String) { 2 } else { 4 };
        let len = match ty {
            Ty::Struct(s) => return self.walk_struct(s),
            _ => self.length(what, compact, width)?,
        };
        let Some(len) = len else {
            return if nullable {
                Ok(())
            } else {
                Err(BoundsError::UnexpectedNull { what })
            };
        };
        match ty {
            Ty::String => {
                if std::str::from_utf8(self.take(what, len)?).is_err() {
                    return Err(BoundsError::InvalidUtf8 { what });
                }
            }
            Ty::Array(elem) => {
                let min_each = self.min_wire(elem, compact).max(1);
                let left = self.left();
                if len.saturating_mul(min_each as u64) > left as u64 {
                    return Err(BoundsError::CountTooLarge {
                        what,
                        count: len,
                        min_each,
                        left,
                    });
                }
                self.charge(len * decoded_width(elem) as u64)?;
                for _ in 0..len {
                    self.walk_ty(elem, what, false, compact)?;
                }
            }
            // Bytes and records decode as zero-copy slices of the frame.
            _ => {
                self.take(what, len)?;
            }
        }
        Ok(())
    }

    fn walk_tagged(&mut self, s: &Struct) -> Result<(), BoundsError> {
        let what = s.name;
        let count = self.varint(what)?;
        let left = self.left();
        if count.saturating_mul(2) > left as u64 {
            return Err(BoundsError::CountTooLarge {
                what,
                count,
                min_each: 2,
                left,
            });
        }
        for _ in 0..count {
            let tag = self.varint(what)? as u32;
            let size = self.varint(what)?;
            match s.fields.iter().find(|f| f.tag == Some(tag)) {
                Some(f) if f.versions.contains(self.version) => {
                    let start = self.pos;
                    self.walk_field(f)?;
                    let actual = self.pos - start;
                    if actual as u64 != size {
                        return Err(BoundsError::TagSizeMismatch {
                            what,
                            tag,
                            declared: size.try_into().unwrap_or(usize::MAX),
                            actual,
                        });
                    }
                }
                Some(_) => {
                    return Err(BoundsError::BadTag {
                        what,
                        tag,
                        version: self.version,
                    });
                }
                None => {
                    self.take(what, size)?;
                    self.charge(TAGGED_FIELD_DECODED_BYTES as u64)?;
                }
            }
        }
        Ok(())
    }

    /// The fewest bytes one value of `ty` can take on the wire at this version.
    fn min_wire(&self, ty: &Ty, compact: bool) -> usize {
        match ty {
            Ty::String => {
                if compact {
                    1
                } else {
                    2
                }
            }
            Ty::Bytes | Ty::Records | Ty::Array(_) => {
                if compact {
                    1
                } else {
                    4
                }
            }
            Ty::Struct(s) => {
                let inline: usize = s
                    .fields
                    .iter()
                    .filter(|f| f.versions.contains(self.version) && f.tag.is_none())
                    .map(|f| self.min_wire(&f.ty, self.flexible && !f.classic))
                    .sum();
                inline + usize::from(self.flexible)
            }
            fixed => fixed_width(fixed),
        }
    }
}

fn sign(what: &'static str, len: i64) -> Result<Option<u64>, BoundsError> {
    match len {
        -1 => Ok(None),
        n if n >= 0 => Ok(Some(n as u64)),
        n => Err(BoundsError::NegativeLength { what, len: n }),
    }
}

/// Wire width of fixed-size types; 0 for the variable-size ones.
fn fixed_width(ty: &Ty) -> usize {
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
fn decoded_width(ty: &Ty) -> usize {
    match ty {
        Ty::Struct(s) => s.decoded_bytes,
        Ty::String => size_of::<StrBytes>(),
        Ty::Bytes | Ty::Records => size_of::<Option<Bytes>>(),
        Ty::Array(_) => size_of::<Vec<u8>>(),
        Ty::Uuid => 16,
        fixed => fixed_width(fixed),
    }
}
