//! Measures what decoding really allocates, with a counting allocator, against the two promises of
//! the bounded-decoding defence (see `src/kafka/mod.rs`): an accepted frame allocates no more than
//! the walker's estimate, and no frame, hostile or not, allocates more than its decode budget.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::{BufMut, Bytes, BytesMut};
use raftka::kafka::{check_and_decode, decode_budget};

/// Counts live and peak heap bytes of the current thread while `TRACKING` is on.
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

/// Peak bytes allocated (beyond what was live before) while checking and decoding `frame`.
fn measure(frame: Bytes) -> (usize, Result<usize, String>) {
    LIVE.with(|l| l.set(0));
    PEAK.with(|p| p.set(0));
    TRACKING.with(|t| t.set(true));
    let result = check_and_decode(frame).map_err(|e| e.to_string());
    TRACKING.with(|t| t.set(false));
    (PEAK.with(Cell::get).max(0) as usize, result)
}

fn varint(b: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        b.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    b.put_u8(v as u8);
}

/// ApiVersions v3 (header v2, null client id) whose body carries `tags` unknown tagged fields.
fn api_versions_v3_with_tags(tags: u32, distinct: bool) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(18);
    b.put_i16(3);
    b.put_i32(1);
    b.put_i16(-1);
    b.put_u8(0); // header: no tagged fields
    b.put_slice(&[0x02, b'a', 0x02, b'1']);
    varint(&mut b, tags);
    for i in 0..tags {
        varint(&mut b, if distinct { i } else { 7 });
        b.put_u8(0);
    }
    b.freeze()
}

#[test]
fn accepted_frames_allocate_within_the_estimate() {
    for (tags, distinct) in [
        (0, true),
        (10, true),
        (1000, true),
        (100_000, true),
        (100_000, false),
    ] {
        let frame = api_versions_v3_with_tags(tags, distinct);
        let (peak, result) = measure(frame);
        let estimate = result.unwrap_or_else(|e| panic!("{tags} tags: {e}"));
        println!(
            "{tags} tagged fields (distinct: {distinct}): allocated {peak}, estimated {estimate}"
        );
        if distinct {
            // The counter sees the map being built (each entry holds at least a tag and a Bytes).
            assert!(
                peak >= tags as usize * 36,
                "counting allocator not counting: {peak}"
            );
        }
        assert!(
            peak <= estimate + 4096,
            "{tags} tagged fields (distinct: {distinct}): allocated {peak} bytes, estimated {estimate}"
        );
    }
}

#[test]
fn no_frame_allocates_beyond_its_budget() {
    let mut hostile: Vec<(&str, Bytes)> = vec![
        (
            "20M tagged fields in the body",
            api_versions_v3_with_tags(20_000_000, false),
        ),
        (
            "issue 152 bytes",
            Bytes::from_static(&[0x03, 0x00, 0x00, 0x03, 0x3c, 0x0c, 0x00, 0xb6]),
        ),
    ];
    let mut header_tags = BytesMut::new();
    header_tags.put_slice(&[0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff]);
    varint(&mut header_tags, 20_000_000);
    header_tags.put_slice(&[1, 0, 1, 0]);
    hostile.push((
        "20M tagged fields announced in the header",
        header_tags.freeze(),
    ));
    for (case, frame) in hostile {
        let len = frame.len();
        let (peak, result) = measure(frame);
        assert!(result.is_err(), "{case}: accepted");
        assert!(
            peak <= decode_budget(len),
            "{case}: allocated {peak} bytes, budget {}",
            decode_budget(len)
        );
        // Refused frames are refused by the walk, which allocates nothing but its error.
        assert!(
            peak < 64 * 1024,
            "{case}: {peak} bytes allocated before refusing"
        );
    }
}
