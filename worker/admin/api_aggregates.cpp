// GET /api/v1/aggregates/{type}/{id}[/history]: an aggregate as stored now and its
// transitions (transition_audit), through the Store's Inspector role; and the paging
// parameters every list shares.
#include <algorithm>
#include <string>

#include "api.hpp"
#include "http_util.hpp"
#include "lockstep/store.hpp"

namespace lockstep::admin {
namespace {

template <typename T>
Json or_null(const std::optional<T>& v) {
  return v ? Json(*v) : Json(nullptr);
}

Json audit_json(const AuditRecord& a) {
  return {{"id", a.id},
          {"event_id", a.event_id},
          {"transition", a.transition},
          {"from_state", or_null(a.from_state)},
          {"to_state", a.to_state},
          {"from_version", a.from_version},
          {"to_version", a.to_version},
          {"source", or_null(a.source)},
          {"actor", or_null(a.actor)},
          {"occurred_at", or_null(a.occurred_at)},
          {"applied_at", a.applied_at},
          {"source_topic", or_null(a.source_topic)},
          {"source_partition", or_null(a.source_partition)},
          {"source_offset", or_null(a.source_offset)}};
}

HttpResponse aggregate(const AggregateRef& ref, Store& store) {
  auto a = store.get_aggregate(ref);
  if (!a) throw ApiError(404, "not_found", "no aggregate " + ref.type + "/" + ref.id);
  return json_response(200, aggregate_json(*a));
}

HttpResponse history(const ApiCall& call, const AggregateRef& ref, Store& store) {
  only_params(call.query, {"cursor", "limit"});
  const Page page = parse_page(call.query);
  auto rows = store.audit_history(ref, page.after_id, page.limit + 1);
  if (rows.empty() && !page.after_id && !store.get_aggregate(ref)) {
    throw ApiError(404, "not_found", "no aggregate " + ref.type + "/" + ref.id);
  }
  Json out = {{"items", Json::array()}, {"next_cursor", nullptr}};
  if (rows.size() > page.limit) {
    rows.resize(page.limit);
    out["next_cursor"] = std::to_string(rows.back().id);
  }
  for (const auto& a : rows) out["items"].push_back(audit_json(a));
  return json_response(200, out);
}

}  // namespace

Json aggregate_json(const AggregateRecord& a) {
  return {{"aggregate_type", a.type}, {"aggregate_id", a.id},       {"state", a.state},
          {"version", a.version},     {"data", a.data},             {"created_at", a.created_at},
          {"updated_at", a.updated_at}, {"updated_by", or_null(a.updated_by)}};
}

void only_params(const std::map<std::string, std::string>& query, const std::vector<std::string>& allowed) {
  for (const auto& [name, value] : query) {
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      throw bad_request("unknown query parameter '" + name + "'", name);
    }
  }
}

Page parse_page(const std::map<std::string, std::string>& query) {
  Page p;
  auto number = [](const std::string& text, const char* field) {
    try {
      std::size_t used = 0;
      const long long v = std::stoll(text, &used);
      if (used == text.size()) return v;
    } catch (const std::exception&) {
    }
    throw bad_request(std::string(field) + " must be a whole number", field);
  };
  if (auto it = query.find("cursor"); it != query.end() && !it->second.empty()) {
    p.after_id = number(it->second, "cursor");
  }
  if (auto it = query.find("limit"); it != query.end()) {
    const long long limit = number(it->second, "limit");
    if (limit < 1 || limit > 500) throw bad_request("limit must be from 1 to 500", "limit");
    p.limit = static_cast<std::size_t>(limit);
  }
  return p;
}

HttpResponse aggregates_route(const ApiCall& call, Connections& conns) {
  const auto& seg = call.segments;  // {"aggregates", type, id[, "history"]}
  const bool history_path = seg.size() == 4 && seg[3] == "history";
  if (seg.size() != 3 && !history_path) throw ApiError(404, "not_found", "no such endpoint");
  if (call.method != "GET" && call.method != "HEAD") {
    throw ApiError(405, "method_not_allowed", call.method + " is not allowed here");
  }
  const AggregateRef ref{seg[1], seg[2]};
  if (history_path) return history(call, ref, conns.admin());
  only_params(call.query, {});
  return aggregate(ref, conns.admin());
}

}  // namespace lockstep::admin
