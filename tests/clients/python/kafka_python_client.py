"""kafka-python against raftka: creates a topic of 3 partitions (KafkaAdminClient), sends 5,000
keyed messages (value = the decimal id) with the idempotent or the plain producer, reads every
partition back from offset 0 (assign, no group) and checks that each id arrived exactly once and
that each partition holds offsets 0..n-1 with no gap and no duplicate.
Usage: kafka_python_client.py idempotent|plain BOOTSTRAP TOPIC"""

import time

import kafka
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from scenario import MESSAGES, PARTITIONS, PHASE_SECONDS, args, check, phase

idempotent, bootstrap, topic = args()
print(f"kafka-python {kafka.__version__}, {'idempotent' if idempotent else 'plain'} producer, "
      f"topic {topic} on {bootstrap}", flush=True)
timeout_ms = PHASE_SECONDS * 1000

with phase("creating the topic"):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms)
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)], timeout_ms=timeout_ms)
    admin.close()

with phase(f"producing {MESSAGES} messages"):
    producer = KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=idempotent,
                             max_block_ms=timeout_ms, delivery_timeout_ms=timeout_ms)
    sent = [producer.send(topic, key=str(i).encode(), value=str(i).encode())
            for i in range(MESSAGES)]
    producer.flush(timeout=PHASE_SECONDS)
    for future in sent:
        future.get(timeout=0)  # raises the send's own error
    producer.close(timeout=PHASE_SECONDS)

records = []
with phase("consuming from the beginning"):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False, request_timeout_ms=timeout_ms)
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    end = consumer.end_offsets(partitions)
    print(f"end offsets: {[end[tp] for tp in partitions]}", flush=True)
    deadline = time.monotonic() + PHASE_SECONDS
    while any(consumer.position(tp) < end[tp] for tp in partitions):
        if time.monotonic() > deadline:
            raise TimeoutError(f"positions {[consumer.position(tp) for tp in partitions]} "
                               f"still short of the end offsets after {PHASE_SECONDS}s")
        for tp, messages in consumer.poll(timeout_ms=1000).items():
            records.extend((tp.partition, m.offset, m.value) for m in messages)
    consumer.close()

check(records)
