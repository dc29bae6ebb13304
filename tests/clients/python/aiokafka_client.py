"""aiokafka against raftka: creates a topic of 3 partitions (AIOKafkaAdminClient), sends 5,000
keyed messages (value = the decimal id) with the idempotent or the plain producer, reads every
partition back from offset 0 (assign, no group) and checks that each id arrived exactly once and
that each partition holds offsets 0..n-1 with no gap and no duplicate.
Usage: aiokafka_client.py idempotent|plain BOOTSTRAP TOPIC"""

import asyncio
import time

import aiokafka
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from scenario import MESSAGES, PARTITIONS, PHASE_SECONDS, args, check, phase


async def main(idempotent, bootstrap, topic):
    timeout_ms = PHASE_SECONDS * 1000
    with phase("creating the topic"):
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms)
        await admin.start()
        response = await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
        await admin.close()
        errors = [e for e in response.topic_errors if e[1] != 0]
        if errors:
            raise RuntimeError(f"CreateTopics answered {errors}")

    with phase(f"producing {MESSAGES} messages"):
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=idempotent,
                                    request_timeout_ms=timeout_ms)
        try:
            await asyncio.wait_for(producer.start(), PHASE_SECONDS)
            sent = [await producer.send(topic, key=str(i).encode(), value=str(i).encode())
                    for i in range(MESSAGES)]
            await asyncio.wait_for(asyncio.gather(*sent), PHASE_SECONDS)
        finally:
            await producer.stop()

    records = []
    with phase("consuming from the beginning"):
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                    enable_auto_commit=False, request_timeout_ms=timeout_ms)
        await consumer.start()
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        print(f"end offsets: {[end[tp] for tp in partitions]}", flush=True)
        deadline = time.monotonic() + PHASE_SECONDS
        while any([await consumer.position(tp) < end[tp] for tp in partitions]):
            if time.monotonic() > deadline:
                raise TimeoutError(f"still short of the end offsets after {PHASE_SECONDS}s")
            batches = await consumer.getmany(timeout_ms=1000)
            for tp, messages in batches.items():
                records.extend((tp.partition, m.offset, m.value) for m in messages)
        await consumer.stop()
    check(records)


idempotent, bootstrap, topic = args()
print(f"aiokafka {aiokafka.__version__}, {'idempotent' if idempotent else 'plain'} producer, "
      f"topic {topic} on {bootstrap}", flush=True)
asyncio.run(main(idempotent, bootstrap, topic))
