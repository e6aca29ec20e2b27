#include <chrono>
#include <ctime>

#include "backends.hpp"
#include "lockstep/store.hpp"
#include "migrations.hpp"

namespace lockstep {

std::unique_ptr<Store> open_store(const std::string& url, const StoreOptions& options) {
  if (url.rfind("sqlite:", 0) == 0) return make_sqlite_store(url);
  return make_pg_store(url, options);
}

std::size_t Outbox::relay_dead_letters(std::size_t limit,
                                       const std::function<bool(const std::vector<DeadLetterRecord>&)>& publish) {
  const PublishFn all_or_nothing = [&](const std::vector<DeadLetterRecord>& recs) {
    const bool ok = publish(recs);
    return std::vector<PublishResult>(recs.size(), PublishResult{ok, false, ok ? "" : "not published"});
  };
  return relay_dead_letters(limit, all_or_nothing).published;
}

RelayPlan plan_relay(const std::vector<DeadLetterRecord>& rows, const std::vector<Outbox::PublishResult>& results) {
  RelayPlan plan;
  const auto delivered = [&](std::size_t i) { return i < results.size() && results[i].delivered; };
  bool any_permanent = false;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (delivered(i))
      ++plan.published;
    else if (i < results.size() && results[i].permanent)
      any_permanent = true;
  }
  if (plan.published == 0 && !any_permanent) {
    plan.broker_failed = !rows.empty();
    return plan;
  }
  auto published = Json::array();
  auto deferred = Json::array();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (delivered(i))
      published.push_back(rows[i].id);
    else
      deferred.push_back({{"id", rows[i].id}, {"error", i < results.size() ? results[i].error : "not published"}});
  }
  plan.deferred = deferred.size();
  plan.published_ids = published.dump();
  plan.deferred_rows = deferred.dump();
  return plan;
}

int latest_schema_version() { return migrations().empty() ? 0 : migrations().back().version; }

std::string to_rfc3339(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto ms_total = duration_cast<milliseconds>(t.time_since_epoch()).count();
  auto secs = ms_total / 1000;
  auto ms = ms_total % 1000;
  if (ms < 0) {  // before 1970: floor, not truncate
    ms += 1000;
    --secs;
  }
  const std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms));
  return out;
}

std::string now_rfc3339() { return to_rfc3339(std::chrono::system_clock::now()); }

namespace {
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (i + 1 == in.size()) {
    const uint32_t v = uint8_t(in[i]) << 16;
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = in[i + k];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        v[k] = 0;
        ++pad;
      } else {
        if (pad) return std::nullopt;
        v[k] = val(c);
        if (v[k] < 0) return std::nullopt;
      }
    }
    const uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out += char((n >> 16) & 0xff);
    if (pad < 2) out += char((n >> 8) & 0xff);
    if (pad < 1) out += char(n & 0xff);
  }
  return out;
}

}  // namespace lockstep
