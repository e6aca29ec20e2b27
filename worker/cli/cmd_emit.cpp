// `lockstep emit`: JSON lines in, keyed messages out, one line per delivery report;
// with --wait, also one line per outcome the worker publishes (the asynchronous 409).
#include <deque>
#include <fstream>
#include <iostream>
#include <map>

#include "cli.hpp"
#include "lockstep/kafka.hpp"
#include "lockstep/wire.hpp"
#include "lockstep/event_keys.hpp"
#include <librdkafka/rdkafkacpp.h>

namespace lockstep::cli {
namespace {

// A message sent with --wait, awaiting the worker's outcome.
struct Sent {
  int line;
  std::string key;  // idempotency key the worker uses for this message
};

// Prints one outcome line (JSON with --json) for input line `line`.
void print_outcome(const wire::OutcomeMessage& o, int line, bool duplicate, bool json) {
  if (json) {
    Json out = wire::outcome_json(o);
    out["line"] = line;
    std::cout << out.dump(-1, ' ', false, Json::error_handler_t::replace) << std::endl;
    return;
  }
  std::cout << "outcome line=" << line << " event_id=" << o.event_id << " outcome=" << o.outcome;
  if (duplicate) {
    std::cout << " first=" << o.first->outcome;
    if (o.first->reason && !o.first->reason->empty()) std::cout << " reason=" << *o.first->reason;
  } else if (o.reason && !o.reason->empty()) {
    std::cout << " reason=" << *o.reason;
  }
  std::cout << " version=" << (o.version ? std::to_string(*o.version) : "") << " state=" << o.state.value_or("")
            << std::endl;
}

// Reads outcomes until every awaited message has one (or the time is up); prints
// one line per outcome. Returns (outcomes received, dead-lettered ones). A
// duplicate counts as its first outcome: re-sending a conflicting event is still a conflict.
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
    print_outcome(*o, line, duplicate, json);
  }
  for (const auto& [key, lines] : pending)
    for (const int line : lines)
      std::cout << "no-outcome line=" << line << " event_id=" << key << " (none within " << timeout.count()
                << " ms: is the worker running with kafka.outcome_topic set?)" << std::endl;
  return {answered, dead};
}

struct EmitOptions {
  Connection conn;
  std::string topic;
  bool raw = false;  // send lines unchecked (testing bad input)
  std::optional<std::string> raw_key;
  bool wait = false;
  bool json = false;
  std::chrono::milliseconds timeout{30000};
  std::optional<std::string> outcome_topic;
  std::string outcomes;              // the topic the worker publishes outcomes to (with --wait)
  std::optional<std::string> input;  // FILE; none or "-": standard input
  Config cfg;
  ParseLimits limits;  // as the worker parses (limits.*)
};

// The configuration the options name, and what depends on it; checked.
void resolve(EmitOptions& o) {
  if (o.topic.empty()) throw UsageError("--topic must not be empty");
  o.cfg = load(o.conn);
  if (o.conn.timeout_ms) o.timeout = std::chrono::milliseconds(*o.conn.timeout_ms);
  if (o.outcome_topic && !is_valid_topic_name(*o.outcome_topic))
    throw UsageError("--outcome-topic: not a valid topic name (\"" + *o.outcome_topic + "\")");
  o.outcomes = o.outcome_topic.value_or(o.cfg.kafka.outcome_topic);
  if (o.wait && o.outcomes.empty())
    throw UsageError("--wait needs the topic the worker publishes outcomes to: set kafka.outcome_topic (for the "
                     "worker too) or pass --outcome-topic T");
  o.limits.max_event_bytes = o.cfg.limits.max_event_bytes;
  o.limits.max_depth = o.cfg.limits.max_depth;
}

// What was sent so far, updated by the delivery reports.
struct Tally {
  int failed = 0, delivered = 0, sent = 0, timed_out = 0;
  std::vector<Sent> awaited;  // with --wait: the delivered messages
};

// The message for input line `lineno`, and its event_id ("-" with --raw); std::nullopt when
// the line is not a valid event (reported as rejected and counted as failed).
std::optional<OutMessage> message_for(const std::string& line, int lineno, const EmitOptions& o, std::string& id,
                                      Tally& tally) {
  OutMessage m;
  m.topic = o.topic;
  m.value = line;
  id = "-";
  if (o.raw) {
    m.key = o.raw_key;
    return m;
  }
  auto j = Json::parse(line, nullptr, false);
  std::optional<std::string> key;
  if (j.is_object() && j.contains("aggregate_type") && j["aggregate_type"].is_string() &&
      j.contains("aggregate_id") && j["aggregate_id"].is_string())
    key = j["aggregate_type"].get<std::string>() + ":" + j["aggregate_id"].get<std::string>();
  auto parsed = parse_event(line, key, o.limits);
  if (auto* bad = std::get_if<Malformed>(&parsed)) {
    std::cout << "rejected line=" << lineno << " error=\"" << bad->detail << "\"" << std::endl;
    ++tally.failed;
    return std::nullopt;
  }
  const auto& e = std::get<Event>(parsed);
  id = e.event_id;
  m.key = e.key();
  return m;
}

// The delivery report of the message of input line `lineno`.
void on_delivery(const Delivery& d, int lineno, const std::string& id, const OutMessage& m, const EmitOptions& o,
                 Tally& tally) {
  if (!d.error) {
    ++tally.delivered;
    if (o.wait) {
      const SourceRef src{o.topic, "", d.partition, d.offset, d.timestamp_ms};
      tally.awaited.push_back(
          {lineno, idempotency_key_for(parse_event(m.value, m.key, o.limits), src, m.value, m.key)});
    }
    std::cout << "delivered line=" << lineno << " event_id=" << id << " topic=" << o.topic
              << " partition=" << d.partition << " offset=" << d.offset << std::endl;
  } else {
    ++tally.failed;
    tally.timed_out += d.error.code == RdKafka::ERR__MSG_TIMED_OUT;
    std::cout << "failed line=" << lineno << " event_id=" << id << " error=\"" << d.error.str() << "\"" << std::endl;
  }
}

// Sends every non-blank line of `in`, then waits for the delivery reports.
void send_lines(std::istream& in, Producer& producer, const EmitOptions& o, Tally& tally) {
  int lineno = 0;
  std::string line;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string id;
    auto m = message_for(line, lineno, o, id, tally);
    if (!m) continue;
    ++tally.sent;
    producer.send_async(*m, [&o, &tally, lineno, id, sent = *m](const Delivery& d) {
      on_delivery(d, lineno, id, sent, o, tally);
    });
    producer.poll(std::chrono::milliseconds(0));
  }
  producer.flush(o.timeout + std::chrono::seconds(5));  // message.timeout.ms fails what is left before
  producer.poll(std::chrono::milliseconds(0));
}

int cmd_emit(EmitOptions& o) {
  resolve(o);
  std::ifstream file;
  std::istream* in = &std::cin;
  if (o.input && *o.input != "-") {
    file.open(*o.input);
    if (!file) throw UsageError("cannot read " + *o.input);
    in = &file;
  }
  // Read the outcome topic from its current end before anything is sent, so no outcome is missed.
  std::unique_ptr<TopicTail> tail;
  if (o.wait) tail = std::make_unique<TopicTail>(o.cfg.kafka.brokers, o.cfg.kafka.properties, o.outcomes, o.timeout);
  Tally tally;
  Producer producer(o.cfg.kafka.brokers, bounded_props(o.cfg, o.timeout, o.conn.timeout_ms.has_value()));
  send_lines(*in, producer, o, tally);
  std::cerr << "emit: " << tally.delivered << " delivered, " << tally.failed << " failed or rejected" << std::endl;
  if (tally.timed_out || tally.delivered + tally.failed < tally.sent)
    std::cerr << "lockstep emit: " << (tally.sent - tally.delivered) << " message(s) not delivered within "
              << o.timeout.count() << " ms (--timeout-ms): is a broker reachable at " << o.cfg.kafka.brokers << "?"
              << std::endl;
  const bool send_failed = tally.failed > 0 || tally.delivered < tally.sent;
  if (!o.wait) return send_failed ? 1 : 0;
  const auto [answered, dead] = await_outcomes(*tail, tally.awaited, o.timeout, o.json);
  std::cerr << "emit: " << answered << " of " << tally.awaited.size() << " outcomes received, " << dead
            << " dead-lettered" << std::endl;
  if (send_failed || answered < tally.awaited.size()) return 1;
  return dead > 0 ? 3 : 0;
}

}  // namespace

void add_emit(CLI::App& app, Action& action) {
  auto o = std::make_shared<EmitOptions>();
  auto* sub = app.add_subcommand("emit", "produce events from JSON lines (FILE, or standard input), one line per "
                                         "delivery; exit 1 when one is not delivered, 3 when --wait sees a dead letter");
  add_connection_flags(sub, o->conn);
  sub->add_option("--topic", o->topic, "the input topic to send to")->required()->type_name("T");
  add_string(sub, "FILE", o->input, "JSON lines to send, one event each (default or -: standard input)");
  auto* raw = sub->add_flag("--raw", o->raw, "send the lines unchecked (to test bad input)");
  add_string(sub, "--key", o->raw_key, "the message key with --raw (events are keyed aggregate_type:aggregate_id)")
      ->type_name("K")
      ->needs(raw);
  auto* wait = sub->add_flag("--wait", o->wait, "also print each event's outcome as the worker publishes it");
  sub->add_flag("--json", o->json, "outcomes as JSON lines (with --wait)")->needs(wait);
  add_string(sub, "--outcome-topic", o->outcome_topic, "where the worker publishes outcomes (default "
                                                       "kafka.outcome_topic; with --wait)")
      ->type_name("T")
      ->needs(wait);
  add_timeout_flag(sub, o->conn, 30000, "delivering (and with --wait, waiting for each outcome)");
  sub->callback([&action, o] { action = [o] { return cmd_emit(*o); }; });
}

}  // namespace lockstep::cli
