#include "outcome/dead_letter_relay.hpp"

#include <spdlog/spdlog.h>

namespace lockstep::runtime {

// The producer's message.max.bytes, or the topic's max.message.bytes (the
// broker's own limit, which it applies to a record batch) when that is
// smaller. A broker that does not answer DescribeConfigs (the development
// broker) leaves the producer's.
std::size_t DeadLetterRelayLoop::dead_letter_limit() {
  std::size_t limit = max_message_bytes(cfg_.kafka.properties);
  try {
    Admin admin(cfg_.kafka.brokers, cfg_.kafka.properties);
    const auto configs = admin.configs(cfg_.kafka.dead_letter_topic, milliseconds(5000));
    if (const auto it = configs.find("max.message.bytes"); it != configs.end()) {
      const auto topic_limit = static_cast<std::size_t>(std::stoull(it->second.value));
      if (topic_limit < limit) {
        spdlog::info("dead-letter messages are kept under {} bytes, the max.message.bytes of topic {}", topic_limit,
                     cfg_.kafka.dead_letter_topic);
        limit = topic_limit;
      }
    }
  } catch (const std::exception& e) {
    spdlog::debug("the dead-letter topic's max.message.bytes is not known ({}): messages are kept under "
                  "the producer's message.max.bytes, {} bytes",
                  e.what(), limit);
  }
  return limit;
}

void DeadLetterRelayLoop::check_schema() {
  if (slot_.store) return;
  BusyScope busy(slot_);
  const int v = slots_.store(slot_).schema_version();
  if (v < latest_schema_version()) {
    if (!warned_schema_)
      spdlog::error("database schema is at version {}, this build needs {}: run `lockstep migrate up`", v,
                    latest_schema_version());
    warned_schema_ = true;
    throw TransientStoreError("schema not migrated");
  }
}

bool DeadLetterRelayLoop::pass(DeadLetterRelay& relay) {
  check_schema();
  DeadLetterRelay::Pass pass;
  {
    BusyScope busy(slot_);
    // Waiting for the broker is not waiting for the database: the
    // watchdog does not count the publish, the publish stall check does.
    pass = relay.run_once(*slot_.store, 100, &readiness_.stopping, [&](bool publishing) {
      if (publishing) {
        slot_.busy_since_ms = 0;
        publishing_since_ms_ = now_ms();
      } else {
        publishing_since_ms_ = 0;
        slot_.busy_since_ms = now_ms();
      }
    });
  }
  readiness_.db_ok = true;
  if (pass.broker_failed) {
    // Nothing reached the broker: an infrastructure fault, not a verdict on the rows.
    readiness_.relay_ok = false;
    const auto d = infra_.delay(++failures_, rng_);
    spdlog::error("dead-letter relay: broker did not take {} message(s), retry in {} ms: {}", pass.selected,
                  d.count(), pass.last_error.str());
    waker_.wait_for(d);
    return true;
  }
  readiness_.relay_ok = true;
  failures_ = 0;
  // A refusal can mean the topic's limit changed: read it again, at most once a minute.
  if (pass.deferred > 0 && Clock::now() - limit_read_at_ >= milliseconds(60000)) {
    relay.set_max_bytes(dead_letter_limit());
    limit_read_at_ = Clock::now();
  }
  return pass.selected == 100;
}

void DeadLetterRelayLoop::run() {
  // The relay waits for delivery reports up to the producer's message timeout,
  // so that a message it gave up on is not delivered behind its back (which
  // would publish it twice); shutdown cuts the wait short.
  const milliseconds producer_timeout(
      int_property(cfg_.kafka.properties, "message.timeout.ms", kProducerMessageTimeoutMs));
  DeadLetterRelay relay(producer_, cfg_.kafka.dead_letter_topic, &metrics_, dead_letter_limit(),
                        producer_timeout + milliseconds(2000));
  limit_read_at_ = Clock::now();
  while (!readiness_.stopping) {
    bool more = false;
    try {
      more = pass(relay);
    } catch (const TransientStoreError& e) {
      slots_.reset(slot_);
      readiness_.db_ok = false;
      metrics_.infra_error("database");
      spdlog::error("dead-letter relay: {}", e.what());
      back_off();
      continue;
    } catch (const std::exception& e) {
      slots_.reset(slot_);
      spdlog::error("dead-letter relay: {}", e.what());
      back_off();
      continue;
    }
    if (!more) waker_.wait_for(milliseconds(500));
  }
}

}  // namespace lockstep::runtime
