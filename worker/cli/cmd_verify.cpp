// `lockstep verify`: the invariant checker (issue #4). Reads the database and,
// unless --no-kafka, the input and dead-letter topics from their beginning,
// prints one line per invariant and exits 1 on any violation.
#include <iostream>

#include "cli.hpp"
#include "lockstep/verify.hpp"

namespace lockstep::cli {

int cmd_verify(Args& args) {
  ConfigOverrides o;
  o.brokers = args.option("--brokers");
  o.database_url = args.option("--database-url");
  const bool no_kafka = args.flag("--no-kafka");
  const int timeout_ms =
      parse_int("--timeout-ms", args.option("--timeout-ms").value_or("60000"), 100, 3600 * 1000);
  Config cfg = load(args, o);
  if (!args.positionals().empty())
    throw UsageError("usage: lockstep verify [--config FILE] [--brokers B] [--database-url U] [--no-kafka] "
                     "[--timeout-ms N]");

  VerifyInputs in;
  in.limits.max_event_bytes = cfg.limits.max_event_bytes;
  in.limits.max_depth = cfg.limits.max_depth;
  if (!no_kafka) {
    std::vector<std::string> inputs;
    for (const auto& t : cfg.kafka.topics) inputs.push_back(t.topic);
    const std::chrono::milliseconds timeout(timeout_ms);
    in.events = read_topics(cfg.kafka.brokers, cfg.kafka.properties, inputs, timeout);
    in.dead_letters = read_topics(cfg.kafka.brokers, cfg.kafka.properties, {cfg.kafka.dead_letter_topic}, timeout);
  }
  const auto checks = verify(cfg.database.url, cfg.machines, in);
  long failed = 0;
  for (const auto& c : checks) {
    std::cout << format(c) << "\n";
    if (!c.ok()) ++failed;
  }
  std::cout << (failed ? "violations in " + std::to_string(failed) + " of " : "all hold: ") << checks.size()
            << " invariants\n";
  return failed ? 1 : 0;
}

}  // namespace lockstep::cli
