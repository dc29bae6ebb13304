// The Apache Kafka Java client against raftka: creates a topic of 3 partitions (Admin), sends
// 5,000 keyed messages (value = the decimal id) with the DEFAULT producer config (idempotent with
// acks=all since Kafka 3.0; nothing about either is set) or with enable.idempotence=false, reads
// every partition back from offset 0 (assign, no group) and checks that each id arrived exactly
// once and that each partition holds offsets 0..n-1 with no gap and no duplicate.
// Usage: java -jar client-check.jar idempotent|plain BOOTSTRAP TOPIC
package raftka.clients;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public final class ClientCheck {
    static final int MESSAGES = 5000;
    static final int PARTITIONS = 3;
    /** Each phase's bound; the Rust test kills the program a little later. */
    static final Duration PHASE = Duration.ofSeconds(60);

    record Read(int partition, long offset, String value) {}

    public static void main(String[] args) throws Exception {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        if (args.length != 3 || !List.of("idempotent", "plain").contains(args[0])) {
            System.err.println("usage: client-check idempotent|plain BOOTSTRAP TOPIC");
            System.exit(2);
        }
        boolean idempotent = args[0].equals("idempotent");
        String bootstrap = args[1];
        String topic = args[2];
        System.out.printf("kafka-clients %s, %s producer, topic %s on %s%n",
                clientVersion(), args[0], topic, bootstrap);

        phase("creating the topic", () -> {
            try (Admin admin = Admin.create(Map.of("bootstrap.servers", bootstrap))) {
                admin.createTopics(List.of(new NewTopic(topic, PARTITIONS, (short) 1)))
                        .all().get(PHASE.toSeconds(), TimeUnit.SECONDS);
            }
            return null;
        });

        phase("producing " + MESSAGES + " messages", () -> {
            Properties config = new Properties();
            config.put("bootstrap.servers", bootstrap);
            config.put("key.serializer", StringSerializer.class.getName());
            config.put("value.serializer", StringSerializer.class.getName());
            if (!idempotent) {
                config.put("enable.idempotence", "false");
            }
            try (var producer = new KafkaProducer<String, String>(config)) {
                List<Future<RecordMetadata>> sent = new ArrayList<>();
                for (int i = 0; i < MESSAGES; i++) {
                    sent.add(producer.send(new ProducerRecord<>(topic, "" + i, "" + i)));
                }
                long deadline = System.nanoTime() + PHASE.toNanos();
                for (var future : sent) {
                    future.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
                }
                producer.close(PHASE);
            }
            return null;
        });

        List<Read> reads = phase("consuming from the beginning", () -> {
            Properties config = new Properties();
            config.put("bootstrap.servers", bootstrap);
            config.put("key.deserializer", StringDeserializer.class.getName());
            config.put("value.deserializer", StringDeserializer.class.getName());
            List<Read> read = new ArrayList<>();
            try (var consumer = new KafkaConsumer<String, String>(config)) {
                List<TopicPartition> partitions = new ArrayList<>();
                for (int p = 0; p < PARTITIONS; p++) {
                    partitions.add(new TopicPartition(topic, p));
                }
                consumer.assign(partitions);
                consumer.seekToBeginning(partitions);
                Map<TopicPartition, Long> end = consumer.endOffsets(partitions, PHASE);
                System.out.println("end offsets: " + partitions.stream().map(end::get).toList());
                long deadline = System.nanoTime() + PHASE.toNanos();
                while (partitions.stream().anyMatch(tp -> consumer.position(tp, PHASE) < end.get(tp))) {
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException("still short of the end offsets after " + PHASE);
                    }
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofSeconds(1))) {
                        read.add(new Read(r.partition(), r.offset(), r.value()));
                    }
                }
            }
            return read;
        });
        System.exit(check(reads) ? 0 : 1);
    }

    /** The kafka-clients version, from the properties file its jar carries. */
    static String clientVersion() throws Exception {
        Properties version = new Properties();
        try (var in = KafkaProducer.class.getResourceAsStream("/kafka/kafka-version.properties")) {
            if (in != null) {
                version.load(in);
            }
        }
        return version.getProperty("version", "(unknown version)");
    }

    /** Runs `body` and prints its time; an exception prints FAIL with its causes and exits 1. */
    static <T> T phase(String name, Callable<T> body) {
        long start = System.nanoTime();
        try {
            T result = body.call();
            System.out.printf("%s: %.1fs%n", name, (System.nanoTime() - start) / 1e9);
            return result;
        } catch (Exception e) {
            e.printStackTrace();
            StringBuilder causes = new StringBuilder();
            for (Throwable t = e; t != null; t = t.getCause()) {
                causes.append(causes.length() == 0 ? "" : " <- ").append(t);
            }
            System.out.println("FAIL while " + name + ": " + causes);
            System.out.flush();
            System.exit(1);
            return null;
        }
    }

    /** Prints a report; true when every id was read once and each partition holds 0..n-1 once. */
    static boolean check(List<Read> reads) {
        List<String> problems = new ArrayList<>();
        for (int p = 0; p < PARTITIONS; p++) {
            final int partition = p;
            List<Long> offsets = reads.stream().filter(r -> r.partition() == partition)
                    .map(Read::offset).sorted().toList();
            TreeSet<Long> distinct = new TreeSet<>(offsets);
            long last = offsets.isEmpty() ? -1 : offsets.get(offsets.size() - 1);
            List<Long> gaps = new ArrayList<>();
            for (long o = 0; o <= last; o++) {
                if (!distinct.contains(o)) {
                    gaps.add(o);
                }
            }
            int dups = offsets.size() - distinct.size();
            System.out.printf("partition %d: %d records, offsets %s..%s, %d gaps, %d duplicate offsets%n",
                    p, offsets.size(), offsets.isEmpty() ? "-" : offsets.get(0),
                    offsets.isEmpty() ? "-" : last, gaps.size(), dups);
            if (offsets.isEmpty()) {
                problems.add("partition " + p + " is empty");
            }
            if (!gaps.isEmpty()) {
                problems.add("partition " + p + " misses offsets " + gaps.subList(0, Math.min(10, gaps.size())));
            }
            if (dups > 0) {
                problems.add("partition " + p + " repeats " + dups + " offsets");
            }
        }
        Map<String, Integer> counts = new TreeMap<>();
        for (Read r : reads) {
            counts.merge(r.value(), 1, Integer::sum);
        }
        List<Integer> missing = new ArrayList<>();
        for (int i = 0; i < MESSAGES; i++) {
            if (!counts.containsKey("" + i)) {
                missing.add(i);
            }
        }
        List<String> repeated = counts.entrySet().stream().filter(e -> e.getValue() > 1)
                .map(Map.Entry::getKey).toList();
        long unknown = counts.size() + missing.size() - MESSAGES;
        System.out.printf("ids: %d records, %d distinct, %d missing, %d repeated, %d unexpected%n",
                reads.size(), counts.size(), missing.size(), repeated.size(), unknown);
        if (!missing.isEmpty()) {
            problems.add(missing.size() + " ids never read, first " + missing.subList(0, Math.min(10, missing.size())));
        }
        if (!repeated.isEmpty()) {
            problems.add(repeated.size() + " ids read more than once, first "
                    + repeated.subList(0, Math.min(10, repeated.size())));
        }
        if (unknown > 0) {
            problems.add(unknown + " unexpected values");
        }
        reads.stream().filter(r -> r.partition() < 0 || r.partition() >= PARTITIONS).findAny()
                .ifPresent(r -> problems.add("records from unexpected partition " + r.partition()));
        problems.forEach(p -> System.out.println("FAIL: " + p));
        if (problems.isEmpty()) {
            System.out.printf("PASS: %d ids once each, offsets contiguous in %d partitions%n", MESSAGES, PARTITIONS);
        }
        return problems.isEmpty();
    }
}
