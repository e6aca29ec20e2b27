// `lockstep dlq`: operator view of dead letters.
#include <iomanip>
#include <iostream>

#include "cli.hpp"
#include "lockstep/store.hpp"

namespace lockstep::cli {
namespace {

Json to_json(const DeadLetterRecord& d) {
  Json j = {{"id", d.id},
            {"event_id", d.event_id},
            {"reason", d.reason},
            {"detail", d.detail},
            {"aggregate_type", d.aggregate_type ? Json(*d.aggregate_type) : Json(nullptr)},
            {"aggregate_id", d.aggregate_id ? Json(*d.aggregate_id) : Json(nullptr)},
            {"source", {{"topic", d.src.topic}, {"partition", d.src.partition}, {"offset", d.src.offset}}},
            {"attempts", d.attempts},
            {"status", d.status},
            {"created_at", d.created_at},
            {"resolved_at", d.resolved_at ? Json(*d.resolved_at) : Json(nullptr)},
            {"resolved_by", d.resolved_by ? Json(*d.resolved_by) : Json(nullptr)},
            {"note", d.note ? Json(*d.note) : Json(nullptr)}};
  if (d.event)
    j["event"] = *d.event;
  else
    j["raw_base64"] = base64_encode(d.raw);
  if (d.conflict) j["conflict"] = *d.conflict;
  return j;
}

}  // namespace

int cmd_dlq(Args& args) {
  Store::DeadLetterFilter f;
  f.status = args.option("--status");
  f.reason = args.option("--reason");
  f.aggregate_type = args.option("--aggregate-type");
  f.aggregate_id = args.option("--aggregate-id");
  if (auto l = args.option("--limit")) f.limit = static_cast<std::size_t>(parse_int("--limit", *l, 1, 1000000));
  const bool json = args.flag("--json");
  Config cfg = load(args);
  auto pos = args.positionals();
  if (pos.empty()) throw UsageError("usage: lockstep dlq list|show ID|replay ID...|discard ID... --note TEXT|drain");
  const auto& what = pos[0];
  if (f.status && *f.status != "open" && *f.status != "replayed" && *f.status != "discarded")
    throw UsageError("--status must be open, replayed or discarded");
  if (f.reason && !dead_reason_from_string(*f.reason))
    throw UsageError("--reason must be one of malformed, unknown_transition, version_conflict, invalid_transition, "
                     "retries_exhausted");

  if (what == "list") {
    if (pos.size() != 1) throw UsageError("list takes no arguments");
    auto store = open_store(cfg.database.url);
    auto rows = store->list_dead_letters(f);
    if (json) {
      Json arr = Json::array();
      for (const auto& d : rows) arr.push_back(to_json(d));
      std::cout << arr.dump(2) << "\n";
      return 0;
    }
    std::cout << std::left << std::setw(8) << "ID" << std::setw(38) << "EVENT_ID" << std::setw(20) << "REASON"
              << std::setw(11) << "STATUS" << std::setw(26) << "CREATED_AT" << "AGGREGATE\n";
    for (const auto& d : rows) {
      std::cout << std::left << std::setw(8) << d.id << std::setw(38) << d.event_id.substr(0, 36) << std::setw(20)
                << d.reason << std::setw(11) << d.status << std::setw(26) << d.created_at
                << (d.aggregate_type ? *d.aggregate_type + ":" + d.aggregate_id.value_or("") : "-") << "\n";
    }
    return 0;
  }
  if (what == "show") {
    if (pos.size() != 2) throw UsageError("usage: lockstep dlq show ID");
    const int64_t id = parse_int("ID", pos[1], 1, 2147483647);
    auto store = open_store(cfg.database.url);
    auto d = store->get_dead_letter(id);
    if (!d) {
      std::cerr << "lockstep dlq: no dead letter with id " << id << "\n";
      return 1;
    }
    std::cout << to_json(*d).dump(2) << "\n";
    return 0;
  }
  if (what == "replay" || what == "discard" || what == "drain")
    throw UsageError("dlq " + what + " is not available in this version yet");
  throw UsageError("unknown dlq command '" + what + "' (list, show, replay, discard, drain)");
}

}  // namespace lockstep::cli
