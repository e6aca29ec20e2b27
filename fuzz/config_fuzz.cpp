// libFuzzer target for lockstep::parse_config (docs/cli.md).
//
// The whole input is the YAML text. A bad document must throw lockstep::ConfigError
// (whose message starts with "config: "); any other exception, a crash, UB or a
// leak is a finding. A document that is accepted must satisfy what config.cpp
// validates (ranges, topic names, machine definitions), checked below.
// redact_url, which runs on untrusted URLs from the file and the environment, is
// fuzzed on the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <set>
#include <string>
#include <string_view>

#define LOCKSTEP_FUZZ_TARGET "config_fuzz"
#include "check.hpp"
#include "lockstep/config.hpp"
#include "lockstep/event.hpp"

namespace {


bool blank(std::string_view s) { return s.find_first_not_of(" \t\n\r") == std::string_view::npos; }

void check_config(const lockstep::Config& c, const std::string& source) {
  CHECK(c.source_path == source);

  const auto& k = c.kafka;
  CHECK(!blank(k.brokers));
  CHECK(!blank(k.group_id));
  CHECK(!k.topics.empty());
  std::set<std::string> inputs;
  for (const auto& t : k.topics) {
    CHECK(lockstep::is_valid_topic_name(t.topic), t.topic);
    CHECK(!blank(t.source), t.topic);
    CHECK(inputs.insert(t.topic).second, t.topic);
    CHECK(c.source_of(t.topic) == t.source, t.topic);
  }
  CHECK(lockstep::is_valid_topic_name(k.dead_letter_topic), k.dead_letter_topic);
  CHECK(inputs.count(k.dead_letter_topic) == 0, k.dead_letter_topic);
  if (!k.outcome_topic.empty()) {
    CHECK(lockstep::is_valid_topic_name(k.outcome_topic), k.outcome_topic);
    CHECK(inputs.count(k.outcome_topic) == 0, k.outcome_topic);
    CHECK(k.outcome_topic != k.dead_letter_topic, k.outcome_topic);
  }
  for (const auto& [name, value] : k.properties) CHECK(!blank(name), name);

  CHECK(!blank(c.database.url));
  CHECK(c.database.pool_size >= 1 && c.database.pool_size <= 64);
  CHECK(c.retry.max_attempts >= 1 && c.retry.max_attempts <= 100);
  CHECK(c.retry.base_delay_ms >= 0 && c.retry.base_delay_ms <= 60000);
  CHECK(c.retry.max_delay_ms >= c.retry.base_delay_ms && c.retry.max_delay_ms <= 600000);
  CHECK(c.limits.max_event_bytes >= 1 && c.limits.max_event_bytes <= 64u * 1024 * 1024);
  CHECK(c.limits.max_inflight >= 1 && c.limits.max_inflight <= 10'000'000);
  CHECK(c.limits.max_depth >= 2 && c.limits.max_depth <= 1000);
  CHECK(c.batch.max_events >= 1 && c.batch.max_events <= 100000);
  CHECK(c.batch.max_wait_ms >= 0 && c.batch.max_wait_ms <= 10000);
  CHECK(c.shutdown_timeout_ms >= 100 && c.shutdown_timeout_ms <= 600000);

  CHECK(!c.machines.empty());
  for (const auto& [type, machine] : c.machines) {
    CHECK(lockstep::is_valid_aggregate_type(type), type);
    CHECK(!machine.transitions.empty(), type);
    for (const auto& [name, tr] : machine.transitions) {
      CHECK(!blank(name), type);
      CHECK(!tr.from.empty(), name);
      for (const auto& f : tr.from) CHECK(!blank(f), name);
      if (tr.to) {
        CHECK(!blank(*tr.to), name);
        CHECK(*tr.to != lockstep::kStateNew && *tr.to != lockstep::kStateAny, *tr.to);
      } else {
        CHECK(tr.from.count(lockstep::kStateNew) == 0, name);
      }
    }
  }

  (void)lockstep::redact_url(c.database.url);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string source = "fuzz.yaml";
  try {
    const lockstep::Config c = lockstep::parse_config(text, source);
    check_config(c, source);
  } catch (const lockstep::ConfigError& e) {
    const std::string_view what = e.what();
    CHECK(what.substr(0, 8) == "config: ", what);
  } catch (const std::exception& e) {
    lockstep::fuzz::violation(LOCKSTEP_FUZZ_TARGET, "parse_config threw something other than ConfigError:", e.what());
  } catch (...) {
    lockstep::fuzz::violation(LOCKSTEP_FUZZ_TARGET, "parse_config threw a non-std exception");
  }

  try {
    (void)lockstep::redact_url(text);
  } catch (const std::exception& e) {
    lockstep::fuzz::violation(LOCKSTEP_FUZZ_TARGET, "redact_url threw:", e.what());
  }
  return 0;
}
