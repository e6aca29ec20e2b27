// GET/POST /api/v1/dead-letters...: listing, counting, showing, replaying and discarding
// dead letters through the dead-letter operations library (lockstep/dlq_ops.hpp), the one
// the CLI uses, so both validate and act alike.
#include <algorithm>
#include <chrono>
#include <string>

#include "api.hpp"
#include "http_util.hpp"
#include "lockstep/store.hpp"

namespace lockstep::admin {
namespace {

const std::vector<std::string> kFilterKeys = {"status", "reason", "aggregate_type", "aggregate_id", "since", "until"};

DeadLetterAdmin::DeadLetterFilter filter_from_query(const std::map<std::string, std::string>& query) {
  dlq::FilterText t;
  auto take = [&](const char* key, std::optional<std::string>& into) {
    if (auto it = query.find(key); it != query.end() && !it->second.empty()) into = it->second;
  };
  take("status", t.status);
  take("reason", t.reason);
  take("aggregate_type", t.aggregate_type);
  take("aggregate_id", t.aggregate_id);
  take("since", t.since);
  take("until", t.until);
  return dlq::parse_filter(t, std::chrono::system_clock::now());
}

DeadLetterAdmin::DeadLetterFilter filter_from_json(const Json& j) {
  if (!j.is_object()) throw bad_request("filter must be an object", "filter");
  dlq::FilterText t;
  for (const auto& [key, value] : j.items()) {
    if (std::find(kFilterKeys.begin(), kFilterKeys.end(), key) == kFilterKeys.end()) {
      throw bad_request("unknown filter key '" + key + "'", "filter");
    }
    if (!value.is_string() || value.get<std::string>().empty()) {
      throw bad_request("filter." + key + " must be a non-empty string", key);
    }
    const std::string v = value.get<std::string>();
    if (key == "status") t.status = v;
    if (key == "reason") t.reason = v;
    if (key == "aggregate_type") t.aggregate_type = v;
    if (key == "aggregate_id") t.aggregate_id = v;
    if (key == "since") t.since = v;
    if (key == "until") t.until = v;
  }
  return dlq::parse_filter(t, std::chrono::system_clock::now());
}

HttpResponse list(const ApiCall& call, Store& store) {
  std::vector<std::string> allowed = kFilterKeys;
  allowed.insert(allowed.end(), {"cursor", "limit"});
  only_params(call.query, allowed);
  auto f = filter_from_query(call.query);
  const Page page = parse_page(call.query);
  f.after_id = page.after_id;
  f.limit = page.limit + 1;  // one more tells whether there is a next page
  auto rows = store.list_dead_letters(f);
  Json out = {{"items", Json::array()}, {"next_cursor", nullptr}};
  if (rows.size() > page.limit) {
    rows.resize(page.limit);
    out["next_cursor"] = std::to_string(rows.back().id);
  }
  for (const auto& d : rows) out["items"].push_back(dlq::dead_letter_json(d));
  return json_response(200, out);
}

HttpResponse counts(const ApiCall& call, Store& store) {
  only_params(call.query, kFilterKeys);
  const auto counts = store.count_dead_letters(filter_from_query(call.query));
  Json out = {{"counts", Json::array()}, {"total", 0}};
  int64_t total = 0;
  for (const auto& c : counts) {
    out["counts"].push_back({{"reason", c.reason}, {"status", c.status}, {"count", c.count}});
    total += c.count;
  }
  out["total"] = total;
  return json_response(200, out);
}

HttpResponse show(const std::string& id_text, Connections& conns) {
  int64_t id = 0;
  try {
    std::size_t used = 0;
    id = std::stoll(id_text, &used);
    if (used != id_text.size() || id <= 0) throw std::invalid_argument("id");
  } catch (const std::exception&) {
    throw ApiError(404, "not_found", "no dead letter " + id_text);
  }
  Store& store = conns.admin();
  Json out = dlq::show(store, store, id);
  out["current"] = nullptr;
  if (out.value("aggregate_type", Json()).is_string() && out.value("aggregate_id", Json()).is_string()) {
    const AggregateRef ref{out["aggregate_type"].get<std::string>(), out["aggregate_id"].get<std::string>()};
    if (auto a = store.get_aggregate(ref)) out["current"] = aggregate_json(*a);
  }
  return json_response(200, out);
}

Json item_json(const dlq::ItemResult& r) {
  Json j = {{"id", r.id}, {"event_id", r.event_id}, {"reason", r.reason}, {"status", r.status}};
  if (r.replay_event_id) j["replay_event_id"] = *r.replay_event_id;
  if (r.topic) j["topic"] = *r.topic;
  if (r.partition) j["partition"] = *r.partition;
  if (r.offset) j["offset"] = *r.offset;
  return j;
}

HttpResponse report_response(bool dry_run, const dlq::Report& report) {
  Json out = {{"dry_run", dry_run}, {"items", Json::array()}, {"skipped", report.skipped}};
  for (const auto& item : report.items) out["items"].push_back(item_json(item));
  return json_response(200, out);
}

Json parse_body(const std::string& body, const std::vector<std::string>& allowed) {
  Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw bad_request("the body must be a JSON object");
  for (const auto& [key, value] : j.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      throw bad_request("unknown key '" + key + "'", key);
    }
  }
  return j;
}

std::optional<std::string> opt_string(const Json& j, const char* key) {
  if (!j.contains(key)) return std::nullopt;
  if (!j[key].is_string()) throw bad_request(std::string(key) + " must be a string", key);
  return j[key].get<std::string>();
}

bool opt_bool(const Json& j, const char* key) {
  if (!j.contains(key)) return false;
  if (!j[key].is_boolean()) throw bad_request(std::string(key) + " must be true or false", key);
  return j[key].get<bool>();
}

dlq::Selection selection(const Json& j) {
  const bool has_ids = j.contains("ids");
  const bool has_filter = j.contains("filter");
  if (has_ids == has_filter) throw bad_request("give either ids or filter", "ids");
  dlq::Selection s;
  if (has_filter) {
    s.by_filter = true;
    s.filter = filter_from_json(j["filter"]);
    return s;
  }
  if (!j["ids"].is_array() || j["ids"].empty()) throw bad_request("ids must be a non-empty array of ids", "ids");
  for (const auto& id : j["ids"]) {
    if (!id.is_number_integer() || id.get<int64_t>() <= 0) throw bad_request("ids must be positive integers", "ids");
    s.ids.push_back(id.get<int64_t>());
  }
  return s;
}

dlq::VersionMode version_mode(const Json& j) {
  const auto mode = opt_string(j, "mode").value_or("keep");
  if (mode == "keep") return dlq::VersionMode::keep;
  if (mode == "rebase") return dlq::VersionMode::rebase;
  if (mode == "no_version_check") return dlq::VersionMode::drop;
  throw bad_request("mode must be keep, rebase or no_version_check", "mode");
}

HttpResponse replay(const ApiCall& call, Connections& conns, const dlq::Publish& publish) {
  const Json j = parse_body(call.body, {"ids", "filter", "mode", "note", "topic", "dry_run"});
  dlq::ReplayRequest r;
  r.mode = version_mode(j);
  r.by = call.who.name;
  r.note = opt_string(j, "note");
  r.topic = opt_string(j, "topic");
  r.dry_run = opt_bool(j, "dry_run");
  const auto sel = selection(j);
  return report_response(r.dry_run, dlq::replay(conns.admin(), conns.reader(), sel, r, publish));
}

HttpResponse discard(const ApiCall& call, Connections& conns) {
  const Json j = parse_body(call.body, {"ids", "filter", "note", "dry_run"});
  const auto note = opt_string(j, "note").value_or("");
  const bool dry_run = opt_bool(j, "dry_run");
  const auto sel = selection(j);
  return report_response(dry_run, dlq::discard(conns.admin(), sel, call.who.name, note, dry_run));
}

}  // namespace

HttpResponse dead_letters_route(const ApiCall& call, Connections& conns, const dlq::Publish& publish) {
  const auto& seg = call.segments;  // seg[0] == "dead-letters"
  const bool get = call.method == "GET" || call.method == "HEAD";
  if (seg.size() == 1 && get) return list(call, conns.admin());
  if (seg.size() == 2 && seg[1] == "counts" && get) return counts(call, conns.admin());
  if (seg.size() == 2 && seg[1] == "replay" && call.method == "POST") return replay(call, conns, publish);
  if (seg.size() == 2 && seg[1] == "discard" && call.method == "POST") return discard(call, conns);
  if (seg.size() == 2 && seg[1] != "counts" && seg[1] != "replay" && seg[1] != "discard" && get) {
    return show(seg[1], conns);
  }
  if (seg.size() <= 2) throw ApiError(405, "method_not_allowed", call.method + " is not allowed here");
  throw ApiError(404, "not_found", "no such endpoint");
}

}  // namespace lockstep::admin
