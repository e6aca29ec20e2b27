// `lockstep verify`: the invariant checker (issue #4). Reads the database and,
// unless --no-kafka, the input and dead-letter topics from their beginning,
// prints one line per invariant and exits 1 on any violation.
#include <iostream>

#include "cli.hpp"
#include "lockstep/verify.hpp"

namespace lockstep::cli {
namespace {

constexpr int kTimeoutMs = 60000;

struct VerifyOptions {
  Connection conn;
  bool no_kafka = false;
};

int cmd_verify(const VerifyOptions& o) {
  Config cfg = load(o.conn);
  VerifyInputs in;
  in.limits.max_event_bytes = cfg.limits.max_event_bytes;
  in.limits.max_depth = cfg.limits.max_depth;
  if (!o.no_kafka) {
    std::vector<std::string> inputs;
    for (const auto& t : cfg.kafka.topics) inputs.push_back(t.topic);
    const auto timeout = timeout_of(o.conn, kTimeoutMs);
    in.events = read_topics(cfg.kafka.brokers, cfg.kafka.properties, inputs, timeout);
    in.dead_letters = read_topics(cfg.kafka.brokers, cfg.kafka.properties, {cfg.kafka.dead_letter_topic}, timeout);
  }
  const auto checks = verify(cfg.database.url, cfg.machines, in);
  for (const auto& c : checks) std::cout << format(c) << "\n";
  std::cout << summary(checks, o.no_kafka ? "--no-kafka" : "") << "\n";
  for (const auto& c : checks)
    if (!c.ok()) return 1;
  return 0;
}

}  // namespace

void add_verify(CLI::App& app, Action& action) {
  auto o = std::make_shared<VerifyOptions>();
  auto* sub = app.add_subcommand("verify", "check the invariants: one line each, exit 1 on any violation");
  add_connection_flags(sub, o->conn);
  sub->add_flag("--no-kafka", o->no_kafka, "database checks only (the topic checks are counted as skipped)");
  add_timeout_flag(sub, o->conn, kTimeoutMs, "reading the topics");
  sub->callback([&action, o] { action = [o] { return cmd_verify(*o); }; });
}

}  // namespace lockstep::cli
