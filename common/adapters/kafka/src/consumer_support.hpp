// What the consumers of consumer.cpp and topic_reader.cpp share: deadlines,
// conversions from librdkafka's types, watermarks, an assign-only consumer.
#pragma once

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common.hpp"

namespace lockstep::kafka_detail {

// Milliseconds left until a deadline (at least 1), for librdkafka's int timeouts.
struct Deadline {
  std::chrono::steady_clock::time_point at;
  explicit Deadline(std::chrono::milliseconds d) : at(std::chrono::steady_clock::now() + d) {}
  int left_ms() const {
    return static_cast<int>(std::max<long>(
        1, std::chrono::duration_cast<std::chrono::milliseconds>(at - std::chrono::steady_clock::now()).count()));
  }
  bool passed() const { return std::chrono::steady_clock::now() >= at; }
};

// Owns a vector of librdkafka TopicPartition pointers.
struct TpList {
  std::vector<RdKafka::TopicPartition*> v;
  explicit TpList(const std::vector<TopicPartition>& parts) {
    for (const auto& p : parts) v.push_back(RdKafka::TopicPartition::create(p.topic, p.partition, p.offset));
  }
  ~TpList() { RdKafka::TopicPartition::destroy(v); }
  TpList(const TpList&) = delete;
  TpList& operator=(const TpList&) = delete;
};

std::vector<TopicPartition> convert(const std::vector<RdKafka::TopicPartition*>& ps);
Message to_message(RdKafka::Message& m);  // not const: headers() is not

// Low (`low`) or high watermark of a partition, asked of its leader now, by `deadline`.
RdKafka::ErrorCode watermark(RdKafka::Handle& h, const std::string& topic, int32_t partition, bool low, int64_t& out,
                             const Deadline& deadline);
// Both watermarks, within `timeout`.
RdKafka::ErrorCode watermarks(RdKafka::Handle& h, const std::string& topic, int32_t partition, int64_t& lo,
                              int64_t& hi, std::chrono::milliseconds timeout);

// A consumer for assign() only: joins no group, commits nothing.
std::unique_ptr<RdKafka::KafkaConsumer> assign_only_consumer(const std::string& brokers, const KafkaProps& props,
                                                             bool partition_eof);

}  // namespace lockstep::kafka_detail
