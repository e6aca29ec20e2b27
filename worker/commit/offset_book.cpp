#include "commit/offset_book.hpp"

namespace lockstep::runtime {

void OffsetBook::assign(const std::vector<TopicPartition>& parts) {
  std::lock_guard lk(mu_);
  for (const auto& p : parts) {
    PartState st;
    st.generation = next_generation_++;
    book_[TopicPartition{p.topic, p.partition}] = std::move(st);
  }
}

void OffsetBook::release(const std::set<TopicPartition>& parts,
                         const std::function<void(const TopicPartition&)>& released) {
  std::lock_guard lk(mu_);
  for (const auto& tp : parts) {
    book_.erase(tp);
    released(tp);
  }
}

std::optional<uint64_t> OffsetBook::track(const std::string& topic, int32_t partition, int64_t offset) {
  std::lock_guard lk(mu_);
  auto it = book_.find(TopicPartition{topic, partition});
  if (it == book_.end()) return std::nullopt;
  it->second.offsets.track(offset);
  return it->second.generation;
}

void OffsetBook::complete(const Work& w) {
  std::lock_guard lk(mu_);
  auto it = book_.find(TopicPartition{w.src.topic, w.src.partition});
  if (it != book_.end() && it->second.generation == w.generation) it->second.offsets.complete(w.src.offset);
}

bool OffsetBook::current(const Work& w) const {
  std::lock_guard lk(mu_);
  auto it = book_.find(TopicPartition{w.src.topic, w.src.partition});
  return it != book_.end() && it->second.generation == w.generation;
}

std::vector<TopicPartition> OffsetBook::take_positions(bool all, const std::set<TopicPartition>* only) {
  std::vector<TopicPartition> positions;
  std::lock_guard lk(mu_);
  for (auto& [tp, st] : book_) {
    if (only && !only->count(tp)) continue;
    auto pos = st.offsets.position();
    if (!pos) continue;
    // An unchanged position is sent again every 2 s, so that the group's
    // position cannot stay behind whatever else moved it.
    if (!all && st.last_sent && *st.last_sent == *pos && Clock::now() - st.last_sent_at < milliseconds(2000))
      continue;
    positions.push_back({tp.topic, tp.partition, *pos});
    st.last_sent = pos;
    st.last_sent_at = Clock::now();
  }
  return positions;
}

void OffsetBook::unsend(const std::vector<TopicPartition>& positions) {
  std::lock_guard lk(mu_);
  for (const auto& p : positions) {
    auto it = book_.find(p);
    if (it != book_.end()) it->second.last_sent.reset();
  }
}

std::vector<TopicPartition> OffsetBook::positions() const {
  std::vector<TopicPartition> out;
  std::lock_guard lk(mu_);
  for (const auto& [tp, st] : book_)
    if (auto pos = st.offsets.position()) out.push_back({tp.topic, tp.partition, *pos});
  return out;
}

std::vector<OffsetBook::Row> OffsetBook::rows() const {
  std::vector<Row> rows;
  std::lock_guard lk(mu_);
  for (const auto& [tp, st] : book_) rows.push_back({tp, st.generation, st.offsets.position(), st.last_sent});
  return rows;
}

void OffsetBook::if_current(const TopicPartition& tp, uint64_t generation, const std::function<void()>& fn) const {
  std::lock_guard lk(mu_);
  const auto it = book_.find(tp);
  if (it != book_.end() && it->second.generation == generation) fn();
}

}  // namespace lockstep::runtime
