// Kafka wrappers (librdkafka C++ API) with RAII ownership of every handle.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "lockstep/header.hpp"

struct rd_kafka_error_s;  // rd_kafka_error_t of <librdkafka/rdkafka.h>

namespace RdKafka {
class KafkaConsumer;
class Producer;
}  // namespace RdKafka

namespace lockstep {

// Thrown where a call cannot go on (bad configuration, no answer in time).
class KafkaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An error returned as a value where a call reports one and the caller goes on
// (a commit, a delivery, a topic of an admin request, the consumer's error
// hook). A default-constructed value is success: `if (f)` means "failed".
struct KafkaFailure {
  int code = 0;            // librdkafka's error code (RdKafka::ErrorCode, rd_kafka_resp_err_t); 0: success
  bool retriable = false;  // the same call may succeed later (a broker away, a timeout)
  bool fatal = false;      // the client cannot go on (a fatal error of the librdkafka handle)
  std::string message;     // the text logged and shown; empty: librdkafka's text for `code`

  explicit operator bool() const { return code != 0; }
  // The text: `message`, or librdkafka's description of `code`; "" on success.
  std::string str() const;
};

// From a plain librdkafka error code, classified here (librdkafka's codes carry
// no flags): retriable are the transient local conditions (_TRANSPORT,
// _TIMED_OUT, _MSG_TIMED_OUT, _ALL_BROKERS_DOWN, _QUEUE_FULL, _PREV_IN_PROGRESS,
// _WAIT_COORD, ...) and the broker codes Kafka itself calls retriable (leader or
// coordinator moving or not available, NOT_ENOUGH_REPLICAS, REQUEST_TIMED_OUT,
// ...); fatal are _FATAL and the fencing codes (_FENCED, PRODUCER_FENCED,
// FENCED_INSTANCE_ID, INVALID_PRODUCER_EPOCH). Everything else is neither (the
// message or the request itself is refused). `message` empty: librdkafka's text.
KafkaFailure kafka_failure(int code, std::string message = {});
// From a librdkafka error object, with librdkafka's own flags
// (rd_kafka_error_is_retriable, rd_kafka_error_is_fatal). nullptr: success.
KafkaFailure kafka_failure(const rd_kafka_error_s* error);

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = -1001;  // RD_KAFKA_OFFSET_INVALID
  bool operator<(const TopicPartition& o) const {
    return topic < o.topic || (topic == o.topic && partition < o.partition);
  }
  bool operator==(const TopicPartition& o) const { return topic == o.topic && partition == o.partition; }
};

struct Message {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp_ms = -1;
  std::optional<std::string> key;
  std::string value;
  std::vector<Header> headers;
};

struct OutMessage {
  std::string topic;
  std::optional<std::string> key;
  std::string value;
  std::vector<Header> headers;
  int32_t partition = -1;  // -1: partitioner decides (by key)
};

struct Delivery {
  KafkaFailure error;      // default (false) on success
  bool permanent = false;  // the broker or client refuses this message itself (e.g. too large): resending cannot help
  int32_t partition = -1;
  int64_t offset = -1;
  int64_t timestamp_ms = -1;  // the message's timestamp as the broker stores it, -1 when unknown
};

// librdkafka settings: bootstrap servers plus user properties (kafka.properties).
using KafkaProps = std::map<std::string, std::string>;
// A librdkafka property holding a positive integer (e.g. message.max.bytes),
// or `fallback` when it is absent. librdkafka itself refuses a bad value when
// the client is created.
int64_t int_property(const KafkaProps& props, const std::string& key, int64_t fallback);

class Producer {
 public:
  // Idempotent, acks=all producer. Throws KafkaError on bad configuration.
  // After a fatal librdkafka error it replaces its handle by itself (what the
  // old one held is reported as not delivered).
  Producer(const std::string& brokers, const KafkaProps& props);
  ~Producer();  // flushes briefly, then destroys
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Sends all messages and waits for every delivery report, `timeout`, or
  // `abort` turning true (what is not reported by then counts as not delivered).
  std::vector<Delivery> send(const std::vector<OutMessage>& msgs, std::chrono::milliseconds timeout,
                             const std::atomic<bool>* abort = nullptr);
  // Sends one; `done` runs on a thread calling poll()/send()/flush().
  void send_async(const OutMessage& m, std::function<void(const Delivery&)> done);
  void poll(std::chrono::milliseconds timeout);
  bool flush(std::chrono::milliseconds timeout);
  // Fault injection for tests: raises a fatal error in the underlying
  // librdkafka producer (as its idempotence can after a broker outage). The
  // Producer replaces it on the next send or poll.
  void inject_fatal_error(const std::string& reason);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class Consumer {
 public:
  struct Hooks {
    // Called on the polling thread inside poll(), before the assignment
    // changes. With the eager protocols (range, roundrobin) every rebalance
    // revokes the whole assignment and then assigns a new one; with
    // cooperative-sticky both lists hold only the partitions that move
    // (either may be empty), and the rest keep being fetched meanwhile.
    std::function<void(const std::vector<TopicPartition>&)> on_assign;
    // `lost`: the group has already given these partitions to another member
    // (this one missed its session timeout): an offset commit cannot succeed.
    std::function<void(const std::vector<TopicPartition>&, bool lost)> on_revoke;
    // An error of the client or of a fetch; `fatal` set: the consumer cannot go on.
    std::function<void(const KafkaFailure&)> on_error;
  };
  // Group consumer with auto commit and auto offset store off.
  Consumer(const std::string& brokers, const std::string& group_id, const KafkaProps& props, Hooks hooks);
  ~Consumer();  // close() if not yet closed
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  void subscribe(const std::vector<std::string>& topics);
  // A message, or nullopt on timeout / after an error (reported through on_error).
  std::optional<Message> poll(std::chrono::milliseconds timeout);
  // Commits the given positions (next offset to read). Returns the error, or
  // success (a default KafkaFailure).
  // Synchronous (async false): waits at most `timeout` for the coordinator's
  // answer. A commit left unanswered stays the only one outstanding: later
  // commits fail at once (without being sent) until its answer arrives, so
  // an older commit can never land after a newer one. `give_up`: once it is
  // set and wake_commit_wait() is called, the wait ends early and the commit
  // stays unanswered, as after its timeout.
  KafkaFailure commit(const std::vector<TopicPartition>& positions, bool async,
                     std::chrono::milliseconds timeout = std::chrono::milliseconds(10000),
                     const std::atomic<bool>* give_up = nullptr);
  // Wakes a synchronous commit waiting for its answer on another thread, so
  // that it looks at its `give_up` again (call after setting it).
  void wake_commit_wait();
  void pause(const std::vector<TopicPartition>& parts);
  void resume(const std::vector<TopicPartition>& parts);
  std::vector<TopicPartition> assignment();
  // The group's committed positions of these partitions (offset < 0: none),
  // from the group coordinator; works without subscribing. Throws KafkaError.
  std::vector<TopicPartition> committed(const std::vector<TopicPartition>& parts, std::chrono::milliseconds timeout);
  // High watermark last seen for a partition (from fetch responses), or nullopt.
  std::optional<int64_t> high_watermark(const std::string& topic, int32_t partition);
  // Low and high watermark asked of the partition's leader now (also for a
  // partition that is paused, which fetches nothing), or nullopt on error/timeout.
  std::optional<std::pair<int64_t, int64_t>> query_watermarks(const std::string& topic, int32_t partition,
                                                              std::chrono::milliseconds timeout);
  // The high watermark alone, asked the same way (one question, not two).
  std::optional<int64_t> query_high_watermark(const std::string& topic, int32_t partition,
                                              std::chrono::milliseconds timeout);
  bool joined() const { return joined_.load(); }  // has received an assignment since the last revoke/close
  // "EAGER" or "COOPERATIVE" once the group has chosen an assignor, "NONE" before.
  std::string rebalance_protocol();
  // Leaves the group (the revoke hook runs first). Waits at most `timeout`:
  // what is not done by then (a coordinator that does not answer) is given up,
  // and the group notices the member gone after its session timeout.
  void close(std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> joined_{false};
};

// Every message of `topics` from the start of each partition up to its high
// watermark at the time of the call (each partition's in offset order,
// partitions interleaved). Joins no consumer
// group and commits nothing. A topic that does not exist reads as empty.
// Throws KafkaError when the broker cannot be reached or the end is not
// reached within `timeout`.
std::vector<Message> read_topics(const std::string& brokers, const KafkaProps& props,
                                 const std::vector<std::string>& topics, std::chrono::milliseconds timeout);

// What is appended to one topic from now on: each partition is read from its
// high watermark at construction. Joins no consumer group and commits nothing
// (`lockstep emit --wait` reads the outcomes of what it sends this way). Throws
// KafkaError when the topic does not exist or the broker cannot be reached
// within `timeout`.
class TopicTail {
 public:
  TopicTail(const std::string& brokers, const KafkaProps& props, const std::string& topic,
            std::chrono::milliseconds timeout);
  ~TopicTail();
  TopicTail(const TopicTail&) = delete;
  TopicTail& operator=(const TopicTail&) = delete;
  // The next message, or nullopt on timeout (errors are logged and skipped).
  std::optional<Message> poll(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A topic as the cluster describes it.
struct TopicDescription {
  std::string name;
  bool exists = false;
  int partitions = 0;
  int replication_factor = 0;  // replicas of its first partition
};

// A topic to create: partitions and replication factor -1 take the broker's
// defaults (num.partitions, default.replication.factor).
struct NewTopic {
  std::string name;
  int partitions = -1;
  int replication_factor = -1;
  std::map<std::string, std::string> configs;  // topic configs, e.g. min.insync.replicas
};

// One config of a topic as the broker reports it.
struct TopicConfigValue {
  std::string value;
  bool is_default = true;  // the broker's (or the cluster's) default, not set on the topic
};

// Topic administration: cluster metadata and librdkafka's Admin API
// (CreateTopics, DeleteTopics, DescribeConfigs; a real broker answers them,
// the development broker only metadata). Each call waits at most its timeout and throws
// KafkaError when the cluster does not answer by then.
class Admin {
 public:
  Admin(const std::string& brokers, const KafkaProps& props);
  ~Admin();
  Admin(const Admin&) = delete;
  Admin& operator=(const Admin&) = delete;

  // Each of `topics`, in order: whether it exists, its partitions and replication factor.
  std::vector<TopicDescription> describe(const std::vector<std::string>& topics, std::chrono::milliseconds timeout);
  // Creates the topics; per topic, in order, success or the broker's error
  // (e.g. TOPIC_ALREADY_EXISTS, "Topic 'x' already exists.").
  std::vector<KafkaFailure> create(const std::vector<NewTopic>& topics, std::chrono::milliseconds timeout);
  // Deletes the topics (with their messages); per topic, in order, success or
  // the broker's error (e.g. UNKNOWN_TOPIC_OR_PART, "Broker: Unknown topic or partition").
  std::vector<KafkaFailure> remove(const std::vector<std::string>& topics, std::chrono::milliseconds timeout);
  // How many brokers the cluster's metadata lists.
  int broker_count(std::chrono::milliseconds timeout);
  // Every config of an existing topic (name -> value), as the broker reports it.
  std::map<std::string, TopicConfigValue> configs(const std::string& topic, std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// librdkafka's in-process mock cluster (a real Kafka protocol endpoint on loopback).
class MockCluster {
 public:
  explicit MockCluster(int brokers = 1);
  ~MockCluster();
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  std::string bootstraps() const;
  void create_topic(const std::string& topic, int partitions, int replication = 1);
  // Errors returned, in order, for the next requests of an API (e.g. ApiKey 0 Produce,
  // 1 Fetch, 8 OffsetCommit); codes are Kafka protocol error codes.
  void push_request_errors(int api_key, const std::vector<int>& errors);
  // Drops the errors still queued for an API.
  void clear_request_errors(int api_key);
  void broker_down(int broker_id);
  void broker_up(int broker_id);
  void set_leader(const std::string& topic, int32_t partition, int broker_id);
  // Every response of the broker is delayed this long (0: none). A delay beyond
  // the client's socket.timeout.ms is a broker that stops answering while its
  // connections stay open, as behind a path that drops packets.
  void set_rtt(int broker_id, std::chrono::milliseconds rtt);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lockstep
