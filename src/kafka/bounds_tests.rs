//! Tests of the bounded-decoding defence: hostile frames are refused by the schema walk before the
//! decoder runs, with the reason named; sound frames pass and agree with `kafka-protocol` byte for byte.

use bytes::{BufMut, Bytes, BytesMut};

use super::request::{Parsed, RequestError, check_and_decode, parse};
use super::schema::{BoundsError, Field, MessageSchema, Struct, Ty, range, since};
use super::schemas::METADATA_REQUEST;
use super::walk::walk;

fn walk_body(
    schema: &MessageSchema,
    version: i16,
    body: &[u8],
) -> Result<(usize, usize), BoundsError> {
    let (mut pos, mut decoded) = (0, 0);
    walk(
        schema,
        version,
        body,
        &mut pos,
        &mut decoded,
        super::decode_budget(body.len()),
    )?;
    Ok((pos, decoded))
}

/// Request header v1 (or v2 with `flexible`) for `key`/`version`, client id "c".
fn header(key: i16, version: i16, flexible: bool) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_i16(key);
    b.put_i16(version);
    b.put_i32(42);
    b.put_i16(1);
    b.put_u8(b'c');
    if flexible {
        b.put_u8(0);
    }
    b
}

fn varint(b: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        b.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    b.put_u8(v as u8);
}

#[test]
fn issue_152_metadata_v0_repro_is_refused_before_decoding() {
    // kafka-protocol-rs #152: this body makes the decoder ask for a 3.6 GiB Vec.
    static BODY: [u8; 8] = [0x03, 0x00, 0x00, 0x03, 0x3c, 0x0c, 0x00, 0xb6];
    let body = BODY;
    let err = walk_body(&METADATA_REQUEST, 0, &body).expect_err("must refuse");
    assert!(
        matches!(
            err,
            BoundsError::CountTooLarge {
                count: 50_331_651,
                ..
            }
        ),
        "{err}"
    );
    // The same 8 bytes as a whole frame: an unknown API key (768).
    assert!(matches!(
        parse(Bytes::from_static(&BODY)),
        Err(RequestError::UnknownApiKey(768))
    ));
}

#[test]
fn huge_counts_in_both_encodings_are_refused() {
    let classic = [0x7f, 0xff, 0xff, 0xff];
    let err = walk_body(&METADATA_REQUEST, 1, &classic).expect_err("2^31-1");
    assert!(matches!(err, BoundsError::CountTooLarge { .. }), "{err}");
    let compact = [0xff, 0xff, 0xff, 0xff, 0x0f];
    let err = walk_body(&METADATA_REQUEST, 9, &compact).expect_err("2^32-2");
    assert!(matches!(err, BoundsError::CountTooLarge { .. }), "{err}");
    let negative = [0xff, 0xff, 0xff, 0xfe];
    let err = walk_body(&METADATA_REQUEST, 1, &negative).expect_err("-2");
    assert!(
        matches!(err, BoundsError::NegativeLength { len: -2, .. }),
        "{err}"
    );
    let too_long_varint = [0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    let err = walk_body(&METADATA_REQUEST, 9, &too_long_varint).expect_err("6-byte varint");
    assert!(matches!(err, BoundsError::BadVarint { .. }), "{err}");
}

#[test]
fn null_where_not_nullable_is_refused() {
    // Metadata v0: topics may not be null (nullable from v1).
    let err = walk_body(&METADATA_REQUEST, 0, &[0xff, 0xff, 0xff, 0xff]).expect_err("null");
    assert!(
        matches!(err, BoundsError::UnexpectedNull { what: "topics" }),
        "{err}"
    );
    assert!(walk_body(&METADATA_REQUEST, 1, &[0xff, 0xff, 0xff, 0xff]).is_ok());
}

#[test]
fn frames_too_short_unknown_unserved_or_out_of_range_are_refused() {
    assert!(matches!(
        parse(Bytes::from_static(&[0, 18, 0])),
        Err(RequestError::TooShort(3))
    ));
    let unserved = header(17, 1, false).freeze(); // SaslHandshake: not served
    assert!(matches!(parse(unserved), Err(RequestError::NotServed(_))));
    let old = header(18, -1, false).freeze();
    assert!(matches!(
        parse(old),
        Err(RequestError::UnsupportedVersion { .. })
    ));
    let newer = header(18, 9, true).freeze();
    assert!(matches!(
        parse(newer),
        Ok(Parsed::NewerApiVersions {
            correlation_id: 42,
            version: 9
        })
    ));
}

#[test]
fn invalid_utf8_client_id_is_refused() {
    let mut frame = BytesMut::new();
    frame.put_i16(18);
    frame.put_i16(0);
    frame.put_i32(1);
    frame.put_i16(2);
    frame.put_slice(&[0xc3, 0x28]);
    let err = parse(frame.freeze()).expect_err("bad utf-8");
    assert!(
        matches!(
            err,
            RequestError::Header(BoundsError::InvalidUtf8 { what: "client_id" })
        ),
        "{err}"
    );
}

#[test]
fn truncated_bodies_are_refused_at_every_cut() {
    let mut frame = header(18, 3, true);
    frame.put_u8(5);
    frame.put_slice(b"name");
    frame.put_u8(4);
    frame.put_slice(b"1.0");
    frame.put_u8(0);
    let frame = frame.freeze();
    assert!(matches!(parse(frame.clone()), Ok(Parsed::Routed { .. })));
    for cut in 0..frame.len() {
        assert!(
            check_and_decode(frame.slice(..cut)).is_err(),
            "cut at {cut}"
        );
    }
}

#[test]
fn twenty_million_tagged_fields_are_refused_within_the_budget() {
    let count = 20_000_000u32;
    let mut frame = BytesMut::with_capacity(2 * count as usize + 32);
    frame.put_i16(18);
    frame.put_i16(3);
    frame.put_i32(7);
    frame.put_i16(-1);
    varint(&mut frame, count);
    for _ in 0..count {
        frame.put_u8(1); // tag 1
        frame.put_u8(0); // zero bytes of data
    }
    let err = parse(frame.freeze()).expect_err("over budget");
    assert!(
        matches!(err, RequestError::Header(BoundsError::OverBudget { .. })),
        "{err}"
    );

    // A count far above what the bytes can hold is refused before any is read.
    let mut frame = header(18, 3, false);
    varint(&mut frame, count);
    frame.put_slice(&[1, 0]);
    let err = parse(frame.freeze()).expect_err("count > bytes");
    assert!(
        matches!(err, RequestError::Header(BoundsError::CountTooLarge { .. })),
        "{err}"
    );
}

static ALL_TYPES_ITEM: Struct = Struct {
    name: "Item",
    decoded_bytes: 40,
    fields: &[
        Field::new("b", Ty::Bool, since(0)),
        Field::new("i8", Ty::Int8, since(0)),
        Field::new("u16", Ty::UInt16, since(0)),
        Field::new("u32", Ty::UInt32, since(0)),
        Field::new("f64", Ty::Float64, since(0)),
        Field::new("ints", Ty::Array(&Ty::Int32), since(0)),
        Field::new("blob", Ty::Bytes, since(0)).nullable(since(0)),
        Field::new("records", Ty::Records, since(0)).nullable(since(0)),
    ],
};

static ALL_TYPES: MessageSchema = MessageSchema {
    flexible: since(1),
    body: Struct {
        name: "AllTypes",
        decoded_bytes: 0,
        fields: &[
            Field::new("id", Ty::Uuid, since(0)),
            Field::new("n", Ty::Int64, since(0)),
            Field::new("items", Ty::Array(&Ty::Struct(&ALL_TYPES_ITEM)), since(0)),
            Field::new("later", Ty::Int16, range(1, 1)),
            Field::new("known_tag", Ty::Int32, since(1)).tagged(0),
        ],
    },
};

fn all_types_body(flexible: bool, tag_size: u8) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_slice(&[7; 16]);
    b.put_i64(9);
    let compact_len = |b: &mut BytesMut, n: u32| varint(b, n + 1);
    if flexible {
        compact_len(&mut b, 1)
    } else {
        b.put_i32(1)
    }
    b.put_slice(&[1, 2, 0, 3, 0, 0, 0, 4]); // bool, i8, u16, u32
    b.put_f64(1.5);
    if flexible {
        compact_len(&mut b, 2)
    } else {
        b.put_i32(2)
    }
    b.put_i32(10);
    b.put_i32(11);
    if flexible {
        compact_len(&mut b, 3)
    } else {
        b.put_i32(3)
    }
    b.put_slice(b"xyz");
    if flexible {
        b.put_u8(0)
    } else {
        b.put_i32(-1)
    } // null records
    if flexible {
        b.put_u8(0); // item tagged fields
        b.put_i16(5); // `later`
        b.put_u8(1); // one tagged field: known tag 0, an int32
        b.put_u8(0);
        b.put_u8(tag_size);
        b.put_i32(77);
    }
    b
}

#[test]
fn every_type_is_walked_in_both_encodings() {
    let classic = all_types_body(false, 4);
    let (pos, decoded) = walk_body(&ALL_TYPES, 0, &classic).expect("classic");
    assert_eq!(pos, classic.len());
    assert_eq!(decoded, 40 + 2 * 4);
    let flexible = all_types_body(true, 4);
    let (pos, _) = walk_body(&ALL_TYPES, 1, &flexible).expect("flexible");
    assert_eq!(pos, flexible.len());
    let err =
        walk_body(&ALL_TYPES, 1, &all_types_body(true, 3)).expect_err("declared size differs");
    assert!(
        matches!(
            err,
            BoundsError::TagSizeMismatch {
                tag: 0,
                declared: 3,
                actual: 4,
                ..
            }
        ),
        "{err}"
    );
    // In v2 `later` is gone: its first byte reads as an empty tagged section and the rest is left.
    let v1_body = all_types_body(true, 4);
    let (pos, _) = walk_body(&ALL_TYPES, 2, &v1_body).expect("walks");
    assert_eq!(pos, v1_body.len() - 8);
}
