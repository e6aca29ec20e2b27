#include "lockstep/work.hpp"

namespace lockstep {

std::string lane_key_for(const ParseResult& parsed, const SourceRef& src) {
  if (const auto* e = std::get_if<Event>(&parsed)) return e->key();
  // Unparsable: no aggregate to protect; keep them in partition order on their own lane.
  return std::string("\x01malformed:") + src.topic + ":" + std::to_string(src.partition);
}

std::string idempotency_key_for(const ParseResult& parsed, const SourceRef& src) {
  if (const auto* e = std::get_if<Event>(&parsed)) return e->event_id;
  const auto& m = std::get<Malformed>(parsed);
  if (m.event_id) return *m.event_id;
  return "malformed:" + src.topic + ":" + std::to_string(src.partition) + ":" + std::to_string(src.offset);
}

}  // namespace lockstep
