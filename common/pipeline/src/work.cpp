#include "lockstep/work.hpp"

namespace lockstep {

std::string lane_key_for(const ParseResult& parsed, const SourceRef& src) {
  if (const auto* e = std::get_if<Event>(&parsed)) return e->key();
  // Unparsable: no aggregate to protect; keep them in partition order on their own lane.
  return std::string("\x01malformed:") + src.topic + ":" + std::to_string(src.partition);
}

}  // namespace lockstep
