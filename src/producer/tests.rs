use super::*;

fn batch(epoch: i16, first: i32, last: i32) -> ProducerBatch {
    ProducerBatch {
        producer_id: 7,
        epoch,
        first_sequence: first,
        last_sequence: last,
    }
}

/// A table holding `batches` of producer 7, each of 10 records, applied in order from offset 0.
fn table_with(batches: &[ProducerBatch]) -> ProducerTable {
    let mut table = ProducerTable::default();
    for (i, b) in batches.iter().enumerate() {
        let first = KafkaOffset(i as i64 * 10);
        table.record(b, first, KafkaOffset(first.0 + 9), 0);
    }
    table
}

#[test]
fn sequences_wrap_from_the_largest_to_zero() {
    assert_eq!(sequence_after(5, 4), 9);
    assert_eq!(sequence_after(i32::MAX, 1), 0);
    assert_eq!(sequence_after(i32::MAX - 1, 3), 1);
    assert!(in_sequence(i32::MAX, 0));
    assert!(!in_sequence(3, 5));
}

#[test]
fn an_unknown_producer_may_start_at_any_sequence() {
    assert_eq!(check(None, &batch(0, 0, 9)), Ok(Verdict::Append));
    assert_eq!(check(None, &batch(3, 500, 509)), Ok(Verdict::Append));
}

#[test]
fn the_next_batch_continues_the_sequence() {
    let table = table_with(&[batch(0, 0, 9)]);
    assert_eq!(check(table.get(7), &batch(0, 10, 19)), Ok(Verdict::Append));
    assert_eq!(
        check(table.get(7), &batch(0, 11, 19)),
        Err(SequenceError::OutOfOrder {
            producer_id: 7,
            epoch: 0,
            first_sequence: 11,
            expected_after: Some(9),
        })
    );
}

#[test]
fn a_repeated_batch_is_a_duplicate_with_its_first_offsets() {
    let batches: Vec<_> = (0..5).map(|i| batch(0, i * 10, i * 10 + 9)).collect();
    let table = table_with(&batches);
    let Ok(Verdict::Duplicate(kept)) = check(table.get(7), &batch(0, 20, 29)) else {
        panic!("not a duplicate");
    };
    assert_eq!(kept.offsets, Some((KafkaOffset(20), KafkaOffset(29))));
}

#[test]
fn only_the_last_five_batches_are_remembered() {
    let batches: Vec<_> = (0..6).map(|i| batch(0, i * 10, i * 10 + 9)).collect();
    let table = table_with(&batches);
    assert_eq!(table.get(7).map(|e| e.batches.len()), Some(KEPT_BATCHES));
    // The first batch fell out: its retry is no longer recognised, and is out of order.
    assert!(matches!(
        check(table.get(7), &batch(0, 0, 9)),
        Err(SequenceError::OutOfOrder { .. })
    ));
}

#[test]
fn an_older_epoch_is_refused_and_a_newer_one_starts_at_zero() {
    let table = table_with(&[batch(2, 0, 9)]);
    assert_eq!(
        check(table.get(7), &batch(1, 10, 19)),
        Err(SequenceError::InvalidEpoch {
            producer_id: 7,
            epoch: 1,
            current: 2,
        })
    );
    assert_eq!(check(table.get(7), &batch(3, 0, 4)), Ok(Verdict::Append));
    assert!(matches!(
        check(table.get(7), &batch(3, 10, 14)),
        Err(SequenceError::OutOfOrder {
            expected_after: None,
            ..
        })
    ));
}

#[test]
fn a_negative_sequence_is_refused() {
    assert!(matches!(
        check(None, &batch(0, -1, 3)),
        Err(SequenceError::NoSequence { .. })
    ));
}

#[test]
fn a_new_epoch_forgets_the_old_batches() {
    let table = table_with(&[batch(0, 0, 9), batch(1, 0, 4)]);
    let entry = table.get(7).expect("known");
    assert_eq!(entry.epoch, 1);
    assert_eq!(entry.batches.len(), 1);
}

#[test]
fn recording_a_batch_the_table_already_counts_changes_nothing() {
    let mut table = table_with(&[batch(0, 0, 9), batch(0, 10, 19)]);
    let before = table.clone();
    // A table from a snapshot ahead of the entries applied after it sees them again.
    table.record(&batch(0, 0, 9), KafkaOffset(0), KafkaOffset(9), 5);
    table.record(&batch(0, 10, 19), KafkaOffset(10), KafkaOffset(19), 5);
    assert_eq!(table, before);
}

#[test]
fn idle_producers_expire() {
    let mut table = ProducerTable::default();
    table.record(&batch(0, 0, 0), KafkaOffset(0), KafkaOffset(0), 1_000);
    let mut other = batch(0, 0, 0);
    other.producer_id = 8;
    table.record(&other, KafkaOffset(1), KafkaOffset(1), 5_000);
    table.expire(6_000, 4_500);
    assert!(table.get(7).is_none());
    assert!(table.get(8).is_some());
}
