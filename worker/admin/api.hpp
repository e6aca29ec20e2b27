// The admin API's handlers that talk to the database (docs/admin-api.md): dead letters and
// aggregates. Each runs on a handler thread (pool.hpp) and returns its answer, or throws:
// ApiError, dlq::InvalidInput/NotFound/Conflict, TransientStoreError, KafkaError
// (answer_errors in admin_server.cpp turns them into responses).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "auth.hpp"
#include "lockstep/dlq_ops.hpp"
#include "lockstep/http_server.hpp"
#include "pool.hpp"

namespace lockstep::admin {

struct ApiCall {
  Principal who;
  std::string method;
  std::vector<std::string> segments;  // after /api/v1: {"dead-letters", "12"}
  std::map<std::string, std::string> query;
  std::string body;
};

HttpResponse dead_letters_route(const ApiCall& call, Connections& conns, const dlq::Publish& publish);
HttpResponse aggregates_route(const ApiCall& call, Connections& conns);
Json aggregate_json(const AggregateRecord& a);

// Paging parameters shared by the lists: cursor (an id, exclusive) and limit (1..500, default 50).
struct Page {
  std::optional<int64_t> after_id;
  std::size_t limit = 50;
};
Page parse_page(const std::map<std::string, std::string>& query);
// Refuses query parameters other than `allowed` (400 naming the first).
void only_params(const std::map<std::string, std::string>& query, const std::vector<std::string>& allowed);

}  // namespace lockstep::admin
