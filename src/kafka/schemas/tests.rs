//! Tests of every request schema against `kafka-protocol`, at every version the crate knows:
//! populated samples (`samples/`) walk to the exact byte the encoder wrote; every truncation and a
//! 2^31-1 count spliced in at every byte are refused without panicking, and every array's count is
//! caught by the count check; no body the walker accepts (samples and mutated samples) allocates
//! more in the real decoder than the walker estimated. `versions.rs` checks the served table.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeSet;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Message, VersionRange};

use super::super::request::decode_budget;
use super::super::schema::{BoundsError, MessageSchema, Struct, Ty};
use super::super::versions::{APIS, DecodeOnly};
use super::super::walk::walk;
use super::samples::{Fill, sample, sample_with};
use super::*;

/// One schema, the API it belongs to and the crate's decoder for it.
struct Entry {
    key: ApiKey,
    /// The versions the crate's request type encodes and decodes (`ApiKey::valid_versions` can be
    /// wider: it follows the response type).
    versions: VersionRange,
    schema: &'static MessageSchema,
    decode: DecodeOnly,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.key)
    }
}

macro_rules! entry {
    ($key:ident, $schema:expr, $req:ty) => {
        Entry {
            key: ApiKey::$key,
            versions: <$req as Message>::VERSIONS,
            schema: &$schema,
            decode: |body, version| <$req as Decodable>::decode(body, version).map(drop),
        }
    };
}

/// Every request schema. A schema missing here is untested; `served_apis_use_catalogued_schemas`
/// fails if a served API's schema is not in this list.
static CATALOGUE: &[Entry] = &[
    entry!(ApiVersions, API_VERSIONS_REQUEST, ApiVersionsRequest),
    entry!(Metadata, METADATA_REQUEST, MetadataRequest),
    entry!(Produce, PRODUCE_REQUEST, ProduceRequest),
    entry!(Fetch, FETCH_REQUEST, FetchRequest),
    entry!(ListOffsets, LIST_OFFSETS_REQUEST, ListOffsetsRequest),
    entry!(
        OffsetForLeaderEpoch,
        OFFSET_FOR_LEADER_EPOCH_REQUEST,
        OffsetForLeaderEpochRequest
    ),
    entry!(
        InitProducerId,
        INIT_PRODUCER_ID_REQUEST,
        InitProducerIdRequest
    ),
    entry!(
        DescribeProducers,
        DESCRIBE_PRODUCERS_REQUEST,
        DescribeProducersRequest
    ),
    entry!(DeleteRecords, DELETE_RECORDS_REQUEST, DeleteRecordsRequest),
    entry!(CreateTopics, CREATE_TOPICS_REQUEST, CreateTopicsRequest),
    entry!(DeleteTopics, DELETE_TOPICS_REQUEST, DeleteTopicsRequest),
    entry!(
        CreatePartitions,
        CREATE_PARTITIONS_REQUEST,
        CreatePartitionsRequest
    ),
    entry!(
        DescribeConfigs,
        DESCRIBE_CONFIGS_REQUEST,
        DescribeConfigsRequest
    ),
    entry!(AlterConfigs, ALTER_CONFIGS_REQUEST, AlterConfigsRequest),
    entry!(
        IncrementalAlterConfigs,
        INCREMENTAL_ALTER_CONFIGS_REQUEST,
        IncrementalAlterConfigsRequest
    ),
    entry!(
        DescribeCluster,
        DESCRIBE_CLUSTER_REQUEST,
        DescribeClusterRequest
    ),
    entry!(
        FindCoordinator,
        FIND_COORDINATOR_REQUEST,
        FindCoordinatorRequest
    ),
    entry!(JoinGroup, JOIN_GROUP_REQUEST, JoinGroupRequest),
    entry!(SyncGroup, SYNC_GROUP_REQUEST, SyncGroupRequest),
    entry!(Heartbeat, HEARTBEAT_REQUEST, HeartbeatRequest),
    entry!(LeaveGroup, LEAVE_GROUP_REQUEST, LeaveGroupRequest),
    entry!(OffsetCommit, OFFSET_COMMIT_REQUEST, OffsetCommitRequest),
    entry!(OffsetFetch, OFFSET_FETCH_REQUEST, OffsetFetchRequest),
    entry!(ListGroups, LIST_GROUPS_REQUEST, ListGroupsRequest),
    entry!(
        DescribeGroups,
        DESCRIBE_GROUPS_REQUEST,
        DescribeGroupsRequest
    ),
    entry!(DeleteGroups, DELETE_GROUPS_REQUEST, DeleteGroupsRequest),
    entry!(OffsetDelete, OFFSET_DELETE_REQUEST, OffsetDeleteRequest),
];

/// Every (entry, version) the crate can encode and decode.
fn cases() -> impl Iterator<Item = (&'static Entry, i16)> {
    CATALOGUE.iter().flat_map(|entry| {
        (entry.versions.min..=entry.versions.max).map(move |version| (entry, version))
    })
}

/// Walks `body` as the request path does: budget from the body's length.
fn walk_body(entry: &Entry, version: i16, body: &[u8]) -> Result<(usize, usize), BoundsError> {
    let (mut pos, mut decoded) = (0, 0);
    walk(
        entry.schema,
        version,
        body,
        &mut pos,
        &mut decoded,
        decode_budget(body.len()),
    )?;
    Ok((pos, decoded))
}

fn samples(entry: &Entry, version: i16) -> [BytesMut; 2] {
    [
        sample_with(entry.key, version, Fill::FULL),
        sample_with(entry.key, version, Fill::NULLS),
    ]
}

#[test]
fn catalogue_has_each_api_once_and_served_apis_are_catalogued_and_decodable() {
    for (i, entry) in CATALOGUE.iter().enumerate() {
        assert!(
            CATALOGUE[..i].iter().all(|other| other.key != entry.key),
            "{entry:?} twice"
        );
    }
    for api in APIS {
        let entry = CATALOGUE
            .iter()
            .find(|entry| entry.key == api.key)
            .unwrap_or_else(|| panic!("{api:?} is served but its schema is not catalogued"));
        assert!(
            std::ptr::eq(entry.schema, api.request),
            "{api:?} is served with a schema other than the catalogued one"
        );
        // `ApiKey::valid_versions` follows the response type and can be wider than the request
        // type (OffsetCommit, OffsetFetch, InitProducerId); serving beyond the latter fails decode.
        assert!(
            entry.versions.min <= api.versions.min && api.versions.max <= entry.versions.max,
            "{api:?} is served beyond the versions the crate's request type decodes ({}-{})",
            entry.versions.min,
            entry.versions.max
        );
    }
}

#[test]
fn every_schema_agrees_with_the_encoder_at_every_version() {
    for (entry, version) in cases() {
        for body in samples(entry, version) {
            let (pos, _) = walk_body(entry, version, &body)
                .unwrap_or_else(|e| panic!("{entry:?} v{version}: {e}"));
            assert_eq!(
                pos,
                body.len(),
                "{entry:?} v{version}: schema length differs from the encoder"
            );
            let mut bytes = body.freeze();
            (entry.decode)(&mut bytes, version)
                .unwrap_or_else(|e| panic!("{entry:?} v{version}: crate decode: {e}"));
            assert!(bytes.is_empty(), "{entry:?} v{version}: decoder left bytes");
        }
    }
}

#[test]
fn every_truncation_of_every_sample_is_refused() {
    for (entry, version) in cases() {
        for body in samples(entry, version) {
            for cut in 0..body.len() {
                assert!(
                    walk_body(entry, version, &body[..cut]).is_err(),
                    "{entry:?} v{version}: accepted a cut at {cut} of {}",
                    body.len()
                );
            }
        }
    }
}

/// The array fields `s` reaches at `version` (inline or tagged), through nested structs.
fn array_fields(s: &Struct, version: i16, out: &mut BTreeSet<&'static str>) {
    for f in s.fields.iter().filter(|f| f.versions.contains(version)) {
        match &f.ty {
            Ty::Array(elem) => {
                out.insert(f.name);
                if let Ty::Struct(inner) = elem {
                    array_fields(inner, version, out);
                }
            }
            Ty::Struct(inner) => array_fields(inner, version, out),
            _ => {}
        }
    }
}

const HUGE: u32 = i32::MAX as u32;

/// 2^31-1 as an array count in the version's encoding (compact counts are stored plus one).
fn huge_count(flexible: bool) -> Vec<u8> {
    if !flexible {
        return HUGE.to_be_bytes().to_vec();
    }
    let (mut v, mut out) = (HUGE + 1, Vec::new());
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    out
}

/// Decodes a body the walker accepted: whatever the crate makes of it, it must not panic, and it
/// must allocate no more than the walker estimated.
fn decode_accepted(entry: &Entry, version: i16, body: &[u8], estimate: usize, what: &str) {
    let (peak, _) = measure_decode(entry, version, body);
    assert!(
        peak <= estimate,
        "{entry:?} v{version} {what}: allocated {peak} bytes, estimated {estimate}"
    );
}

#[test]
fn a_huge_count_is_refused_wherever_it_lands() {
    for (entry, version) in cases() {
        let flexible = entry.schema.flexible.contains(version);
        let huge = huge_count(flexible);
        let body = sample(entry.key, version);
        let mut expected = BTreeSet::new();
        array_fields(&entry.schema.body, version, &mut expected);
        let mut caught = BTreeSet::new();
        for at in 0..=body.len() {
            let mut hostile = body[..at].to_vec();
            hostile.extend_from_slice(&huge);
            hostile.extend_from_slice(&[0; 4]);
            match walk_body(entry, version, &hostile) {
                Err(BoundsError::CountTooLarge { what, count: c, .. }) if c == u64::from(HUGE) => {
                    caught.insert(what);
                }
                Err(_) => {}
                Ok((_, estimate)) => {
                    decode_accepted(entry, version, &hostile, estimate, "spliced count")
                }
            }
        }
        assert_eq!(
            caught, expected,
            "{entry:?} v{version}: arrays whose count check was (left) and should be (right) hit"
        );
    }
}

#[test]
fn mutated_samples_are_refused_or_decode_within_the_estimate() {
    for (entry, version) in cases() {
        for body in samples(entry, version) {
            for at in 0..body.len() {
                for byte in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                    let mut mutated = body.to_vec();
                    mutated[at] = byte;
                    if let Ok((_, estimate)) = walk_body(entry, version, &mutated) {
                        let what = format!("byte {at} set to {byte:#x}");
                        decode_accepted(entry, version, &mutated, estimate, &what);
                    }
                }
            }
        }
    }
}

#[test]
fn samples_decode_within_the_estimate() {
    for (entry, version) in cases() {
        for body in samples(entry, version) {
            let (_, estimate) = walk_body(entry, version, &body).expect("sample walks");
            let (peak, ok) = measure_decode(entry, version, &body);
            assert!(ok, "{entry:?} v{version}: sample decodes");
            assert!(
                peak <= estimate,
                "{entry:?} v{version}: allocated {peak} bytes, estimated {estimate}"
            );
            // The estimate is not wildly above what decoding costs either.
            assert!(
                estimate <= 4 * peak + 1024,
                "{entry:?} v{version}: allocated {peak} bytes, estimated {estimate}"
            );
        }
    }
}

#[test]
fn plain_samples_allocate_exactly_the_estimate() {
    // Without unknown tagged fields a decoded request's heap is exactly its `Vec`s, which the
    // estimate counts: a wrong `decoded_bytes`, element type or known tag number shows here.
    for (entry, version) in cases() {
        let body = sample_with(entry.key, version, Fill::PLAIN);
        let (_, estimate) = walk_body(entry, version, &body).expect("sample walks");
        let (peak, ok) = measure_decode(entry, version, &body);
        assert!(ok, "{entry:?} v{version}: sample decodes");
        assert_eq!(
            peak, estimate,
            "{entry:?} v{version}: allocated vs estimated"
        );
    }
}

/// Peak heap bytes of decoding `body` with the crate, and whether it decoded. The frame's buffer
/// is made shared first, as a frame read from a socket is, so that slicing it allocates nothing.
fn measure_decode(entry: &Entry, version: i16, body: &[u8]) -> (usize, bool) {
    let mut bytes = Bytes::copy_from_slice(body);
    let _shared = bytes.clone();
    measure(|| (entry.decode)(&mut bytes, version).is_ok())
}

/// Counts the current thread's heap bytes while `TRACKING` is on (as tests/decode_memory.rs does,
/// for the decoders of APIs not yet served).
struct Counting;

thread_local! {
    static TRACKING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    let _ = TRACKING.try_with(|on| {
        if on.get() {
            let live = LIVE.with(|l| {
                l.set(l.get() + delta);
                l.get()
            });
            PEAK.with(|p| p.set(p.get().max(live)));
        }
    });
}

// SAFETY: defers every operation to `System`; only bookkeeping is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as isize);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(-(layout.size() as isize));
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size as isize - layout.size() as isize);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak bytes allocated (beyond what was live before) while running `f`, and its result.
fn measure<T>(f: impl FnOnce() -> T) -> (usize, T) {
    LIVE.with(|l| l.set(0));
    PEAK.with(|p| p.set(0));
    TRACKING.with(|t| t.set(true));
    let result = f();
    TRACKING.with(|t| t.set(false));
    (PEAK.with(Cell::get).max(0) as usize, result)
}
