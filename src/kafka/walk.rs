//! The walker: checks a frame against a request schema without allocating, and sums what the
//! decoder will allocate. `schema.rs` defines the schema types; `request.rs` calls [`walk`].

use super::schema::{
    BoundsError, Field, MessageSchema, Struct, TAGGED_FIELD_DECODED_BYTES, Ty, decoded_width,
    fixed_width,
};

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
