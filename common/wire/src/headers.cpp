// Lockstep's headers and the broker's message size limit.
#include "lockstep/wire.hpp"

namespace lockstep::wire {

std::optional<std::string> header_value(const std::vector<Header>& headers, std::string_view name) {
  for (const auto& h : headers)
    if (h.name == name) return h.value;
  return std::nullopt;
}

bool is_replay_header(std::string_view name) { return name.starts_with(header::replay_prefix); }

std::size_t max_message_bytes(const KafkaProps& props) {
  return static_cast<std::size_t>(
      int_property(props, "message.max.bytes", static_cast<int64_t>(kDefaultMaxMessageBytes)));
}

}  // namespace lockstep::wire
