// `lockstep emit`: JSON lines in, keyed messages out, one line per delivery report;
// with --wait, also one line per outcome the worker publishes (the asynchronous 409).
#include <deque>
#include <fstream>
#include <iostream>
#include <map>

#include "cli.hpp"
#include "lockstep/kafka.hpp"
#include "lockstep/wire.hpp"
#include "lockstep/work.hpp"

namespace lockstep::cli {
namespace {

// Reads outcomes until every awaited message has one (or the time is up); prints
// one line per outcome. Returns (outcomes received, dead-lettered ones). A
// duplicate counts as its first outcome: re-sending a conflicting event is still a conflict.
template <class Sent>
std::pair<std::size_t, std::size_t> await_outcomes(TopicTail& tail, const std::vector<Sent>& awaited,
                                                   std::chrono::milliseconds timeout, bool json) {
  std::map<std::string, std::deque<int>> pending;  // key -> lines still waiting, in send order
  for (const auto& s : awaited) pending[s.key].push_back(s.line);
  std::size_t answered = 0, dead = 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (answered < awaited.size() && std::chrono::steady_clock::now() < deadline) {
    auto m = tail.poll(std::chrono::milliseconds(100));
    if (!m) continue;
    const auto parsed = wire::parse_outcome(m->value);
    const auto* o = std::get_if<wire::OutcomeMessage>(&parsed);
    if (!o) continue;
    const auto it = pending.find(o->event_id);
    if (it == pending.end() || it->second.empty()) continue;  // someone else's, or already answered
    const int line = it->second.front();
    it->second.pop_front();
    ++answered;
    const bool duplicate = o->outcome == "duplicate" && o->first;
    dead += o->outcome == "dead_lettered" || (duplicate && o->first->outcome == "dead_lettered");
    if (json) {
      Json out = wire::outcome_json(*o);
      out["line"] = line;
      std::cout << out.dump(-1, ' ', false, Json::error_handler_t::replace) << std::endl;
      continue;
    }
    std::cout << "outcome line=" << line << " event_id=" << o->event_id << " outcome=" << o->outcome;
    if (duplicate) {
      std::cout << " first=" << o->first->outcome;
      if (o->first->reason && !o->first->reason->empty()) std::cout << " reason=" << *o->first->reason;
    } else if (o->reason && !o->reason->empty()) {
      std::cout << " reason=" << *o->reason;
    }
    std::cout << " version=" << (o->version ? std::to_string(*o->version) : "") << " state=" << o->state.value_or("")
              << std::endl;
  }
  for (const auto& [key, lines] : pending)
    for (const int line : lines)
      std::cout << "no-outcome line=" << line << " event_id=" << key << " (none within " << timeout.count()
                << " ms: is the worker running with kafka.outcome_topic set?)" << std::endl;
  return {answered, dead};
}

}  // namespace

int cmd_emit(Args& args) {
  auto topic = args.option("--topic");
  const bool raw = args.flag("--raw");  // send lines unchecked (testing bad input)
  auto raw_key = args.option("--key");
  const bool wait = args.flag("--wait");
  const bool json = args.flag("--json");
  auto outcome_topic = args.option("--outcome-topic");
  std::chrono::milliseconds timeout(30000);
  auto timeout_arg = args.option("--timeout-ms");
  if (timeout_arg) timeout = std::chrono::milliseconds(parse_int("--timeout-ms", *timeout_arg, 1, 3600000));
  Config cfg = load(args);
  auto pos = args.positionals();
  if (!topic || topic->empty()) throw UsageError("--topic T is required");
  if (pos.size() > 1)
    throw UsageError("usage: lockstep emit --topic T [--wait [--timeout-ms N] [--outcome-topic T] [--json]] [FILE|-]");
  if (raw_key && !raw) throw UsageError("--key goes with --raw (events are keyed by aggregate_type:aggregate_id)");
  if (!wait && (json || outcome_topic || timeout_arg))
    throw UsageError(std::string(json ? "--json" : outcome_topic ? "--outcome-topic" : "--timeout-ms") +
                     " goes with --wait");
  if (outcome_topic && !is_valid_topic_name(*outcome_topic))
    throw UsageError("--outcome-topic: not a valid topic name (\"" + *outcome_topic + "\")");
  const std::string outcomes = outcome_topic.value_or(cfg.kafka.outcome_topic);
  if (wait && outcomes.empty())
    throw UsageError("--wait needs the topic the worker publishes outcomes to: set kafka.outcome_topic (for the "
                     "worker too) or pass --outcome-topic T");

  std::ifstream file;
  std::istream* in = &std::cin;
  if (!pos.empty() && pos[0] != "-") {
    file.open(pos[0]);
    if (!file) throw UsageError("cannot read " + pos[0]);
    in = &file;
  }

  // Read the outcome topic from its current end before anything is sent, so no outcome is missed.
  std::unique_ptr<TopicTail> tail;
  if (wait) tail = std::make_unique<TopicTail>(cfg.kafka.brokers, cfg.kafka.properties, outcomes, timeout);
  struct Sent {
    int line;
    std::string key;  // idempotency key the worker uses for this message
  };
  std::vector<Sent> awaited;
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
    producer.send_async(m, [&, lineno, id, value = m.value, key = m.key](const Delivery& d) {
      if (!d.error) {
        ++delivered;
        if (wait) {
          const SourceRef src{*topic, "", d.partition, d.offset, d.timestamp_ms};
          awaited.push_back({lineno, idempotency_key_for(parse_event(value, key, limits), src, value, key)});
        }
        std::cout << "delivered line=" << lineno << " event_id=" << id << " topic=" << *topic
                  << " partition=" << d.partition << " offset=" << d.offset << std::endl;
      } else {
        ++failed;
        std::cout << "failed line=" << lineno << " event_id=" << id << " error=\"" << d.error.str() << "\"" << std::endl;
      }
    });
    producer.poll(std::chrono::milliseconds(0));
  }
  producer.flush(std::chrono::milliseconds(60000));
  producer.poll(std::chrono::milliseconds(0));
  std::cerr << "emit: " << delivered << " delivered, " << failed << " failed or rejected" << std::endl;
  const bool send_failed = failed > 0 || delivered < sent;
  if (!wait) return send_failed ? 1 : 0;
  const auto [answered, dead] = await_outcomes(*tail, awaited, timeout, json);
  std::cerr << "emit: " << answered << " of " << awaited.size() << " outcomes received, " << dead << " dead-lettered"
            << std::endl;
  if (send_failed || answered < awaited.size()) return 1;
  return dead > 0 ? 3 : 0;
}

}  // namespace lockstep::cli
