#include "lockstep/event_keys.hpp"

namespace lockstep {

std::string lane_key_for(const ParseResult& parsed, const SourceRef& src) {
  if (const auto* e = std::get_if<Event>(&parsed)) return e->key();
  // Unparsable: no aggregate to protect; keep them in partition order on their own lane.
  return std::string("\x01malformed:") + src.topic + ":" + std::to_string(src.partition);
}

namespace {

// FNV-1a, 64 bits: stable across builds and platforms (std::hash is not).
class Fnv1a {
 public:
  void add(std::string_view bytes) {
    for (unsigned char c : bytes) {
      h_ ^= c;
      h_ *= 1099511628211ULL;
    }
  }
  std::string hex() const {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out(16, '0');
    for (int i = 0; i < 16; ++i) out[static_cast<std::size_t>(15 - i)] = kDigits[(h_ >> (4 * i)) & 0xF];
    return out;
  }

 private:
  uint64_t h_ = 14695981039346656037ULL;
};

}  // namespace

std::string idempotency_key_for(const ParseResult& parsed, const SourceRef& src, std::string_view value,
                                const std::optional<std::string>& key) {
  if (const auto* e = std::get_if<Event>(&parsed)) return e->event_id;
  const auto& m = std::get<Malformed>(parsed);
  if (m.event_id) return *m.event_id;
  // Where it was read, plus a digest of the message itself: a topic deleted and
  // created again reuses offsets, and its new messages must not be taken for
  // duplicates of the old ones; the same message read again gets the same id.
  Fnv1a d;
  d.add(std::to_string(src.timestamp_ms));
  d.add(key ? std::string_view("\x01", 1) : std::string_view("\x00", 1));
  if (key) d.add(*key);
  d.add(std::string_view("\x00", 1));
  d.add(value);
  return "malformed:" + src.topic + ":" + std::to_string(src.partition) + ":" + std::to_string(src.offset) + ":" +
         d.hex();
}

}  // namespace lockstep
