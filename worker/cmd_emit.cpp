// `lockstep emit`: JSON lines in, keyed messages out, one line per delivery report.
#include <fstream>
#include <iostream>

#include "cli.hpp"
#include "lockstep/kafka.hpp"

namespace lockstep::cli {

int cmd_emit(Args& args) {
  auto topic = args.option("--topic");
  const bool raw = args.flag("--raw");  // send lines unchecked (testing bad input)
  auto raw_key = args.option("--key");
  Config cfg = load(args);
  auto pos = args.positionals();
  if (!topic || topic->empty()) throw UsageError("--topic T is required");
  if (pos.size() > 1) throw UsageError("usage: lockstep emit --topic T [FILE|-]");
  if (raw_key && !raw) throw UsageError("--key goes with --raw (events are keyed by aggregate_type:aggregate_id)");

  std::ifstream file;
  std::istream* in = &std::cin;
  if (!pos.empty() && pos[0] != "-") {
    file.open(pos[0]);
    if (!file) throw UsageError("cannot read " + pos[0]);
    in = &file;
  }

  Producer producer(cfg.kafka.brokers, cfg.kafka.properties);
  ParseLimits limits;
  limits.max_event_bytes = cfg.limits.max_event_bytes;
  limits.max_depth = cfg.limits.max_depth;
  int failed = 0, delivered = 0, lineno = 0, sent = 0;
  std::string line;
  while (std::getline(*in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    OutMessage m;
    m.topic = *topic;
    m.value = line;
    std::string id = "-";
    if (raw) {
      m.key = raw_key;
    } else {
      auto j = Json::parse(line, nullptr, false);
      std::optional<std::string> key;
      if (j.is_object() && j.contains("aggregate_type") && j["aggregate_type"].is_string() &&
          j.contains("aggregate_id") && j["aggregate_id"].is_string())
        key = j["aggregate_type"].get<std::string>() + ":" + j["aggregate_id"].get<std::string>();
      auto parsed = parse_event(line, key, limits);
      if (auto* bad = std::get_if<Malformed>(&parsed)) {
        std::cout << "rejected line=" << lineno << " error=\"" << bad->detail << "\"" << std::endl;
        ++failed;
        continue;
      }
      const auto& e = std::get<Event>(parsed);
      id = e.event_id;
      m.key = e.key();
    }
    ++sent;
    producer.send_async(m, [&, lineno, id](const Delivery& d) {
      if (d.error.empty()) {
        ++delivered;
        std::cout << "delivered line=" << lineno << " event_id=" << id << " topic=" << *topic
                  << " partition=" << d.partition << " offset=" << d.offset << std::endl;
      } else {
        ++failed;
        std::cout << "failed line=" << lineno << " event_id=" << id << " error=\"" << d.error << "\"" << std::endl;
      }
    });
    producer.poll(std::chrono::milliseconds(0));
  }
  producer.flush(std::chrono::milliseconds(60000));
  producer.poll(std::chrono::milliseconds(0));
  std::cerr << "emit: " << delivered << " delivered, " << failed << " failed or rejected" << std::endl;
  return failed > 0 || delivered < sent ? 1 : 0;
}

}  // namespace lockstep::cli
