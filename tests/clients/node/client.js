// kafkajs against raftka: creates a topic of 3 partitions (admin API), sends 5,000 keyed
// messages (value = the decimal id) with the idempotent producer (maxInFlightRequests 1, as
// kafkajs requires) or the plain one, reads them back from the beginning as a consumer group
// member (kafkajs has no assign-only consumer) and checks that each id arrived exactly once and
// that each partition holds offsets 0..n-1 with no gap and no duplicate.
// Usage: node client.js idempotent|plain BOOTSTRAP TOPIC
'use strict';
const { Kafka, logLevel, Partitioners } = require('kafkajs');
const { version } = require('kafkajs/package.json');

const MESSAGES = 5000;
const PARTITIONS = 3;
const PHASE_MS = 60000; // each phase's bound; the Rust test kills the script a little later
const CHUNK = 500; // messages per send()

const [mode, bootstrap, topic] = process.argv.slice(2);
if (!['idempotent', 'plain'].includes(mode) || !topic) {
  console.error('usage: node client.js idempotent|plain BOOTSTRAP TOPIC');
  process.exit(2);
}
const idempotent = mode === 'idempotent';

// Runs `body` within PHASE_MS and prints its time; an error prints FAIL and exits 1.
async function phase(name, body) {
  const start = Date.now();
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no end within ${PHASE_MS} ms`)), PHASE_MS);
  });
  try {
    const result = await Promise.race([body(), timeout]);
    console.log(`${name}: ${((Date.now() - start) / 1000).toFixed(1)}s`);
    return result;
  } catch (e) {
    console.error(e);
    const api = e.apiName ? ` (API ${e.apiName})` : '';
    console.log(`FAIL while ${name}: ${e.name}: ${e.message}${api}`);
    process.exit(1);
  } finally {
    clearTimeout(timer);
  }
}

// Prints a report of `records` ({partition, offset, value}) and exits 0 when every id was read
// once and each partition holds offsets 0..n-1 once each.
function check(records) {
  const problems = [];
  for (let p = 0; p < PARTITIONS; p++) {
    const offsets = records.filter((r) => r.partition === p).map((r) => r.offset);
    offsets.sort((a, b) => a - b);
    const dups = offsets.filter((o, i) => i > 0 && offsets[i - 1] === o);
    const seen = new Set(offsets);
    const last = offsets.length ? offsets[offsets.length - 1] : -1;
    const gaps = [];
    for (let o = 0; o <= last; o++) if (!seen.has(o)) gaps.push(o);
    console.log(`partition ${p}: ${offsets.length} records, offsets ${offsets[0] ?? '-'}..` +
      `${offsets.length ? last : '-'}, ${gaps.length} gaps, ${dups.length} duplicate offsets`);
    if (!offsets.length) problems.push(`partition ${p} is empty`);
    if (gaps.length) problems.push(`partition ${p} misses offsets ${gaps.slice(0, 10)}`);
    if (dups.length) problems.push(`partition ${p} repeats offsets ${dups.slice(0, 10)}`);
  }
  const others = records.filter((r) => r.partition < 0 || r.partition >= PARTITIONS);
  if (others.length) problems.push(`${others.length} records from unexpected partitions`);
  const counts = new Map();
  for (const r of records) counts.set(r.value, (counts.get(r.value) || 0) + 1);
  const missing = [];
  for (let i = 0; i < MESSAGES; i++) if (!counts.has(String(i))) missing.push(i);
  const repeated = [...counts].filter(([, c]) => c > 1).map(([v]) => v);
  const unknown = [...counts.keys()].filter((v) => !(String(Number(v)) === v && v < MESSAGES));
  console.log(`ids: ${records.length} records, ${counts.size} distinct, ${missing.length} missing, ` +
    `${repeated.length} repeated, ${unknown.length} unexpected`);
  if (missing.length) problems.push(`${missing.length} ids never read, first ${missing.slice(0, 10)}`);
  if (repeated.length) problems.push(`${repeated.length} ids read more than once, first ${repeated.slice(0, 10)}`);
  if (unknown.length) problems.push(`unexpected values ${unknown.slice(0, 10)}`);
  for (const p of problems) console.log(`FAIL: ${p}`);
  if (!problems.length) {
    console.log(`PASS: ${MESSAGES} ids once each, offsets contiguous in ${PARTITIONS} partitions`);
  }
  process.exit(problems.length ? 1 : 0);
}

async function main() {
  console.log(`kafkajs ${version}, ${mode} producer, topic ${topic} on ${bootstrap}`);
  const kafka = new Kafka({
    clientId: `raftka-kafkajs-${mode}`,
    brokers: [bootstrap],
    logLevel: logLevel.WARN,
    requestTimeout: PHASE_MS,
  });
  const admin = kafka.admin();
  await phase('creating the topic', async () => {
    await admin.connect();
    const topics = [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }];
    if (!(await admin.createTopics({ topics, waitForLeaders: true }))) {
      throw new Error('createTopics answered that the topic exists');
    }
  });

  await phase(`producing ${MESSAGES} messages`, async () => {
    const producer = kafka.producer({
      idempotent,
      maxInFlightRequests: idempotent ? 1 : undefined,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    try {
      for (let first = 0; first < MESSAGES; first += CHUNK) {
        const messages = [];
        for (let i = first; i < Math.min(first + CHUNK, MESSAGES); i++) {
          messages.push({ key: String(i), value: String(i) });
        }
        await producer.send({ topic, messages });
      }
    } finally {
      await producer.disconnect();
    }
  });

  const records = [];
  await phase('consuming from the beginning', async () => {
    const ends = await admin.fetchTopicOffsets(topic);
    const total = ends.reduce((sum, p) => sum + Number(p.high), 0);
    console.log(`end offsets: ${ends.sort((a, b) => a.partition - b.partition).map((p) => p.high)}`);
    const consumer = kafka.consumer({ groupId: `${topic}-reader` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise((resolve, reject) => {
      consumer.on(consumer.events.CRASH, (e) => reject(e.payload.error));
      consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          records.push({ partition, offset: Number(message.offset), value: message.value.toString() });
          if (records.length >= total) resolve();
        },
      }).catch(reject);
    });
    await consumer.disconnect();
  });
  await admin.disconnect();
  check(records);
}

main().catch((e) => {
  console.error(e);
  console.log(`FAIL: ${e.name}: ${e.message}`);
  process.exit(1);
});
